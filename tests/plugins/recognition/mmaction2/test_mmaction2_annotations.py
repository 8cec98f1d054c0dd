"""mmaction2's annotation files and rawframe folders load unchanged.

The datasets are built from dataset configs in mmaction2's format after
conversion, with files laid out as mmaction2's data preparation scripts
write them: ``<class>/<video>.mp4 <label>`` video lists,
``<frame_dir> <total_frames> <label>`` rawframe lists and frames named
``img_00001.jpg`` (mmaction2's default ``filename_tmpl='img_{:05}.jpg'``).
"""
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

import vidft_recognition  # noqa: F401  (registers the datasets)
from vidft.registry import DATASETS
from vidft_recognition.mmaction2 import convert_mmaction2_cfg

MODEL = dict(type='Recognizer2D',
             backbone=dict(type='ResNet', depth=50, pretrained=None),
             cls_head=dict(type='TSNHead', num_classes=3, in_channels=2048))

RAWFRAME_PIPELINE = [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=3,
         test_mode=True),
    dict(type='RawFrameDecode', io_backend='disk'),
    dict(type='Resize', scale=(-1, 16)),
    dict(type='CenterCrop', crop_size=16),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
VIDEO_PIPELINE = [
    dict(type='DecordInit', io_backend='disk'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=2,
         test_mode=True),
    dict(type='DecordDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]


def build_dataset(dataset_cfg):
    dataloader = dict(batch_size=1, dataset=dataset_cfg)
    config = convert_mmaction2_cfg(dict(model=MODEL,
                                        val_dataloader=dataloader)).config
    return DATASETS.build(config['val_dataloader']['dataset'])


def write_frames(folder: Path, greys):
    folder.mkdir(parents=True)
    for index, grey in enumerate(greys, start=1):
        cv2.imwrite(str(folder / f'img_{index:05d}.jpg'),
                    np.full((20, 24, 3), grey, np.uint8))


def write_video(path: Path, grey: int, num_frames: int = 6):
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), 'w', format='mp4') as container:
        stream = container.add_stream('mpeg4', rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, 'yuv420p'
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((24, 32, 3), grey, np.uint8), format='rgb24')
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_rawframe_list_and_folders(tmp_path):
    root = tmp_path / 'rawframes_val'
    # Kinetics-style nested frame folders; 6 frames of rising grey level.
    write_frames(root / 'jumping' / 'clip_0001', [10, 20, 30, 40, 50, 60])
    write_frames(root / 'running' / 'clip_0002', [110, 120, 130, 140, 150,
                                                  160])
    ann_file = tmp_path / 'val_list_rawframes.txt'
    ann_file.write_text('jumping/clip_0001 6 2\nrunning/clip_0002 6 0\n')

    dataset = build_dataset(dict(
        type='RawframeDataset', ann_file=str(ann_file),
        data_prefix=dict(img=str(root)), filename_tmpl='img_{:05}.jpg',
        pipeline=RAWFRAME_PIPELINE, test_mode=True))

    assert len(dataset) == 2
    info = dataset.get_data_info(0)
    assert info['frame_dir'] == str(root / 'jumping' / 'clip_0001')
    assert info['total_frames'] == 6
    sample = dataset[0]
    assert int(sample['data_samples'].gt_label) == 2
    # 3 test segments of 6 frames take the middle of each segment: frames
    # 2, 4 and 6 (1-based), grey levels 20, 40 and 60.
    means = sample['inputs'].float().mean(dim=(1, 2, 3))
    assert means.tolist() == pytest.approx([20, 40, 60], abs=2)
    assert sample['inputs'].shape == (3, 3, 16, 16)
    assert sample['inputs'].dtype == torch.uint8


def test_rawframe_list_with_offset(tmp_path):
    root = tmp_path / 'frames'
    write_frames(root / 'clip', [10, 20, 30, 40, 50, 60, 70, 80])
    ann_file = tmp_path / 'list.txt'
    # '<frame_dir> <offset> <total_frames> <label>': frames 5..8.
    ann_file.write_text('clip 5 4 1\n')
    dataset = build_dataset(dict(
        type='RawframeDataset', ann_file=str(ann_file), with_offset=True,
        data_prefix=dict(img=str(root)), pipeline=RAWFRAME_PIPELINE))
    sample = dataset[0]
    # 3 test segments of 4 frames take offsets 0, 2 and 3 (mmaction2's
    # int(1.33 * i + 0.67)), so frames 5, 7 and 8.
    means = sample['inputs'].float().mean(dim=(1, 2, 3))
    assert means.tolist() == pytest.approx([50, 70, 80], abs=2)


def test_video_list_with_subfolders(tmp_path):
    root = tmp_path / 'videos_val'
    write_video(root / 'jumping' / 'a.mp4', grey=50)
    write_video(root / 'running' / 'b.mp4', grey=150)
    ann_file = tmp_path / 'val_list_videos.txt'
    ann_file.write_text('jumping/a.mp4 1\nrunning/b.mp4 2\n')

    dataset = build_dataset(dict(
        type='VideoDataset', ann_file=str(ann_file),
        data_prefix=dict(video=str(root)), pipeline=VIDEO_PIPELINE,
        test_mode=True))

    assert len(dataset) == 2
    sample = dataset[1]
    assert int(sample['data_samples'].gt_label) == 2
    assert float(sample['inputs'].float().mean()) == pytest.approx(150,
                                                                   abs=3)


def test_multi_label_video_list(tmp_path):
    root = tmp_path / 'videos'
    write_video(root / 'a.mp4', grey=80)
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text('a.mp4 0 2\n')
    dataset = build_dataset(dict(
        type='VideoDataset', ann_file=str(ann_file),
        data_prefix=dict(video=str(root)), pipeline=VIDEO_PIPELINE,
        multi_class=True, num_classes=3))
    label = torch.as_tensor(dataset[0]['data_samples'].gt_label)
    assert label.tolist() == [1, 0, 1]
