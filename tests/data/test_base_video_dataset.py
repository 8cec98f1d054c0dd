"""BaseVideoDataset: the sample dict, bad-sample policies and their counts."""
import json

import pytest
import torch
from torch.utils.data import DataLoader

from vidft.data.annotations import load_video_list
from vidft.data.datasets import (MAX_SAMPLE_RETRIES, BadSampleError,
                                 BaseVideoDataset)
from vidft.data.datasets import base as dataset_module
from vidft.registry import DATASETS

PIPELINE = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=1, num_clips=4),
    dict(type='VideoDecode'),
    dict(type='Resize', scale=(16, 16), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]


class ListDataset(BaseVideoDataset):

    def load_data_list(self):
        return load_video_list(self.ann_file, self.data_prefix['video'])


@pytest.fixture
def video_list(tmp_path, test_videos):
    """A list of 4 samples; sample 1 is not a video."""
    broken = tmp_path / 'broken.mp4'
    broken.write_bytes(b'not a video' * 50)
    lines = [f"{test_videos['mp4_h264']} 0", f'{broken} 1',
             f"{test_videos['avi_mpeg4']} 2", f"{test_videos['mkv_mpeg4']} 3"]
    path = tmp_path / 'list.txt'
    path.write_text('\n'.join(lines) + '\n')
    return str(path), str(broken)


@pytest.fixture
def warnings(monkeypatch):
    messages = []
    monkeypatch.setattr(dataset_module, 'print_log',
                        lambda message, **kwargs: messages.append(message))
    return messages


def test_sample_dict_defaults(video_list):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE,
                          start_index=0)
    info = dataset.get_data_info(2)
    assert info['sample_idx'] == 2
    assert info['start_index'] == 0
    assert info['label'] == 2
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (4, 3, 16, 16)
    assert packed['data_samples'].gt_label.tolist() == [0]


def test_raise_names_file_index_and_cause(video_list):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE)
    with pytest.raises(BadSampleError) as info:
        dataset[1]
    message = str(info.value)
    assert info.value.index == 1
    assert info.value.source == video_list[1]
    assert 'sample 1' in message
    assert video_list[1] in message
    assert 'Invalid data' in message
    assert "on_bad_sample='skip'" in message


def test_skip_replaces_logs_once_and_reports(video_list, warnings,
                                             monkeypatch):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE,
                          on_bad_sample='skip', max_bad_fraction=0.5)
    monkeypatch.setattr(dataset, '_rand_another', lambda: 3)
    for _ in range(3):
        packed = dataset[1]
        assert packed['data_samples'].filename == dataset[3][
            'data_samples'].filename
    assert len(warnings) == 1
    assert video_list[1] in warnings[0]

    assert dataset.count_unreported_bad_samples() == 3
    assert len(warnings) == 1
    assert dataset.report_bad_samples() == 3
    assert len(warnings) == 2
    assert dataset.count_unreported_bad_samples() == 0
    assert video_list[1] in warnings[1]
    assert dataset.bad_sample_indices() == [1]
    assert dataset.report_bad_samples() == 0


def test_too_many_bad_samples_raise(video_list, warnings):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE,
                          on_bad_sample='skip', max_bad_fraction=0.2)
    with pytest.raises(BadSampleError, match='max_bad_fraction=0.2'):
        dataset[1]


def test_replacement_retries_capped(video_list, monkeypatch, warnings):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE,
                          on_bad_sample='skip', max_bad_fraction=1.0)
    calls = []

    def always_bad(idx):
        calls.append(idx)
        raise OSError('simulated read error')

    monkeypatch.setattr(dataset, 'prepare_data', always_bad)
    with pytest.raises(BadSampleError) as info:
        dataset[0]
    assert len(calls) == MAX_SAMPLE_RETRIES + 1
    assert f'{MAX_SAMPLE_RETRIES} replacement samples' in str(info.value)
    assert 'simulated read error' in str(info.value)


def broken_shapes(results):
    """Return an empty tensor for sample 2 and a short clip for sample 3."""
    frames = {2: 0, 3: 2}.get(results['sample_idx'], 4)
    return dict(inputs=torch.zeros(frames, 3, 8, 8), data_samples=None)


@pytest.mark.parametrize('index, message', [(2, 'empty'),
                                            (3, 'first sample had')])
def test_empty_or_misshaped_output_is_bad(video_list, index, message):
    dataset = ListDataset(ann_file=video_list[0], pipeline=[broken_shapes])
    assert tuple(dataset[0]['inputs'].shape) == (4, 3, 8, 8)
    with pytest.raises(BadSampleError, match=message):
        dataset[index]


def test_multi_class_one_hot(tmp_path):
    path = tmp_path / 'multi.txt'
    path.write_text('a.mp4 0 2\nb.mp4 1\n')
    dataset = ListDataset(ann_file=str(path), multi_class=True,
                          num_classes=4)
    assert dataset.get_data_info(0)['label'].tolist() == [1, 0, 1, 0]
    assert dataset.get_data_info(1)['label'].tolist() == [0, 1, 0, 0]


@pytest.mark.parametrize('kwargs, message', [
    (dict(on_bad_sample='ignore'), 'on_bad_sample'),
    (dict(max_bad_fraction=1.5), 'max_bad_fraction'),
    (dict(multi_class=True), 'num_classes'),
])
def test_invalid_arguments_raise(video_list, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ListDataset(ann_file=video_list[0], **kwargs)


def test_worker_failures_reach_main_process(video_list, warnings,
                                            monkeypatch):
    dataset = ListDataset(ann_file=video_list[0], pipeline=PIPELINE,
                          on_bad_sample='skip', max_bad_fraction=0.5)
    # Forked workers inherit the patch: sample 1 is replaced by sample 0.
    monkeypatch.setattr(dataset, '_rand_another', lambda: 0)
    loader = DataLoader(dataset, batch_size=1, num_workers=2,
                        collate_fn=lambda batch: batch)
    batches = list(loader)
    assert len(batches) == 4
    assert dataset.report_bad_samples() == 1
    assert dataset.bad_sample_indices() == [1]


def test_built_from_registry_with_json(tmp_path, test_videos):
    annotation = tmp_path / 'ann.json'
    annotation.write_text(json.dumps(dict(
        metainfo=dict(classes=['a', 'b']),
        data_list=[dict(filename=test_videos['mp4_h264'], label=1)])))
    dataset = DATASETS.build(dict(type='BaseVideoDataset',
                                  ann_file=str(annotation),
                                  pipeline=PIPELINE))
    assert len(dataset) == 1
    assert dataset.metainfo['classes'] == ['a', 'b']
    assert dataset[0]['data_samples'].gt_label.tolist() == [1]
