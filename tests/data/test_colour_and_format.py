"""ColorJitter, Normalize, FormatShape, PackVideoInputs and
VideoDataSample."""
import cv2
import numpy as np
import pytest
import torch

from vidft.data.transforms import (ColorJitter, FormatShape, Normalize,
                                   PackVideoInputs, ThreeCrop)
from vidft.structures import VideoDataSample, format_label


def random_frames(count: int = 4, height: int = 6, width: int = 8,
                  seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_color_jitter_same_parameters_for_all_frames():
    frame = random_frames(count=1)[0]
    clip = np.stack([frame] * 5)
    np.random.seed(0)
    results = ColorJitter()(dict(imgs=clip))
    for output in results['imgs'][1:]:
        assert np.array_equal(output, results['imgs'][0])
    assert not np.array_equal(results['imgs'][0], frame)


def test_color_jitter_brightness_only():
    frames = random_frames()
    np.random.seed(3)
    results = ColorJitter(brightness=0.4, contrast=0, saturation=0,
                          hue=0)(dict(imgs=frames))
    factor = results['color_jitter']['brightness']
    assert 0.6 <= factor <= 1.4
    expected = np.clip(np.round(frames * np.float32(factor)), 0, 255)
    assert np.array_equal(results['imgs'], expected.astype(np.uint8))


def test_color_jitter_contrast_uses_clip_mean():
    frames = random_frames()
    np.random.seed(4)
    results = ColorJitter(brightness=0, contrast=(0.5, 0.5), saturation=0,
                          hue=0)(dict(imgs=frames))
    grey = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114],
                                                dtype=np.float32)
    expected = 0.5 * frames + 0.5 * grey.mean()
    assert np.abs(results['imgs'].astype(np.float32) - expected).max() <= 0.5


def test_color_jitter_hue_rotates_hsv():
    frames = random_frames(count=2)
    np.random.seed(5)
    results = ColorJitter(brightness=0, contrast=0, saturation=0,
                          hue=(0.25, 0.25))(dict(imgs=frames))
    for output, frame in zip(results['imgs'], frames):
        hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + 45) % 180
        assert np.array_equal(output, cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))


def test_color_jitter_order_is_random():
    orders = set()
    for seed in range(20):
        np.random.seed(seed)
        results = ColorJitter()(dict(imgs=random_frames(count=1)))
        orders.add(tuple(results['color_jitter']['order']))
    assert len(orders) > 1


@pytest.mark.parametrize('kwargs', [dict(brightness=1.5), dict(hue=0.6),
                                    dict(contrast=(0.5, 2.5))])
def test_color_jitter_invalid_ranges_raise(kwargs):
    with pytest.raises(ValueError):
        ColorJitter(**kwargs)


def test_normalize_per_channel():
    frames = random_frames()
    results = Normalize(mean=[10, 20, 30], std=[2, 4, 5])(dict(imgs=frames))
    assert results['imgs'].dtype == np.float32
    expected = (frames.astype(np.float32) - [10, 20, 30]) / [2, 4, 5]
    assert np.allclose(results['imgs'], expected)


def multi_view_sample(num_crops: int = 3, num_clips: int = 2,
                      clip_len: int = 4) -> dict:
    """Frames whose red value encodes (crop, clip, time)."""
    count = num_crops * num_clips * clip_len
    frames = np.zeros((count, 6, 8, 3), dtype=np.uint8)
    frames[..., 0] = np.arange(count)[:, None, None]
    return dict(imgs=frames, num_clips=num_clips, clip_len=clip_len)


def test_format_shape_nchw_flattens_frames():
    results = FormatShape('NCHW')(multi_view_sample())
    assert results['imgs'].shape == (24, 3, 6, 8)
    assert results['input_shape'] == (24, 3, 6, 8)
    assert results['imgs'][:, 0, 0, 0].tolist() == list(range(24))


def test_format_shape_ncthw_views_crop_major():
    results = FormatShape('NCTHW')(multi_view_sample())
    imgs = results['imgs']
    assert imgs.shape == (6, 3, 4, 6, 8)
    # View v contains frames 4v .. 4v + 3: crop v // 2, clip v % 2.
    for view in range(6):
        assert imgs[view, 0, :, 0, 0].tolist() == list(
            range(4 * view, 4 * view + 4))


def test_format_shape_ntchw():
    imgs = FormatShape('NTCHW')(multi_view_sample())['imgs']
    assert imgs.shape == (6, 4, 3, 6, 8)
    assert imgs[5, :, 0, 0, 0].tolist() == [20, 21, 22, 23]


def test_format_shape_after_three_crop():
    sample = multi_view_sample(num_crops=1)
    sample['imgs'] = np.zeros((8, 6, 10, 3), dtype=np.uint8)
    sample = ThreeCrop(crop_size=6)(sample)
    assert FormatShape('NCTHW')(sample)['imgs'].shape == (6, 3, 4, 6, 6)


def test_format_shape_collapse():
    sample = multi_view_sample(num_crops=1, num_clips=1)
    assert FormatShape('NCTHW', collapse=True)(sample)['imgs'].shape == (
        3, 4, 6, 8)
    with pytest.raises(ValueError, match='one view'):
        FormatShape('NCTHW', collapse=True)(multi_view_sample())


def test_format_shape_invalid_arguments_raise():
    with pytest.raises(ValueError, match='input_format'):
        FormatShape('NHWC')
    with pytest.raises(ValueError, match='collapse'):
        FormatShape('NCHW', collapse=True)
    sample = multi_view_sample()
    sample['imgs'] = sample['imgs'][:-1]
    with pytest.raises(ValueError, match='multiple'):
        FormatShape('NCTHW')(sample)


def test_pack_video_inputs():
    sample = FormatShape('NCTHW')(multi_view_sample())
    sample.update(label=3, filename='a.mp4', frame_inds=np.arange(8),
                  video_reader='not kept')
    packed = PackVideoInputs()(sample)
    assert set(packed) == {'inputs', 'data_samples'}
    assert packed['inputs'].dtype == torch.uint8
    assert tuple(packed['inputs'].shape) == (6, 3, 4, 6, 8)
    data_sample = packed['data_samples']
    assert data_sample.gt_label.tolist() == [3]
    assert data_sample.filename == 'a.mp4'
    assert 'video_reader' not in data_sample.metainfo_keys()


def test_pack_video_inputs_meta_keys_and_no_label():
    sample = dict(imgs=np.zeros((2, 3, 4, 4), dtype=np.float32),
                  filename='b.mp4', fps=25.0)
    packed = PackVideoInputs(meta_keys=('fps', 'missing'))(sample)
    assert packed['inputs'].dtype == torch.float32
    assert packed['data_samples'].metainfo == {'fps': 25.0}
    assert 'gt_label' not in packed['data_samples']


@pytest.mark.parametrize('value, expected', [
    (4, torch.tensor([4])),
    ([1, 5], torch.tensor([1, 5])),
    (np.array([0.0, 1.0]), torch.tensor([0.0, 1.0], dtype=torch.float64)),
    (torch.tensor(7), torch.tensor([7])),
])
def test_format_label(value, expected):
    label = format_label(value)
    assert label.dtype == expected.dtype
    assert torch.equal(label, expected)


def test_format_label_rejects_other_types():
    with pytest.raises(TypeError, match='expected a label'):
        format_label('cat')


def test_video_data_sample_fields():
    sample = VideoDataSample().set_gt_label(2).set_pred_score(
        torch.tensor([0.1, 0.9])).set_pred_label(1)
    assert sample.gt_label.tolist() == [2]
    assert sample.pred_label.tolist() == [1]
    assert sample.pred_score.tolist() == pytest.approx([0.1, 0.9])
    del sample.pred_score
    assert 'pred_score' not in sample
    with pytest.raises(TypeError, match='pred_score'):
        sample.pred_score = torch.zeros(2, 2)
