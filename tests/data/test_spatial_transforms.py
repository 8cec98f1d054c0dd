"""Resize, crops and flips: sizes, boxes and one set of parameters per
sample."""
import cv2
import numpy as np
import pytest

from vidft.data.transforms import (CenterCrop, Flip, RandomResizedCrop,
                                   Resize, TenCrop, ThreeCrop)
from vidft.registry import TRANSFORMS


def random_frames(count: int = 4, height: int = 60, width: int = 80,
                  seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, height, width, 3), dtype=np.uint8)


@pytest.mark.parametrize('scale, keep_ratio, size', [
    ((-1, 30), True, (40, 30)),          # short side 60 -> 30
    ((-1, 256), True, (341, 256)),       # 80 * 256 / 60 = 341.3
    ((32, 24), False, (32, 24)),         # exact (w, h)
    (0.5, True, (40, 30)),               # factor
    ((100, 50), True, (67, 50)),         # fit into long 100, short 50
])
def test_resize_output_size(scale, keep_ratio, size):
    results = Resize(scale=scale, keep_ratio=keep_ratio)(
        dict(imgs=random_frames()))
    width, height = size
    assert results['imgs'].shape == (4, height, width, 3)
    assert results['img_shape'] == (height, width)
    assert results['scale_factor'] == (width / 80, height / 60)


@pytest.mark.parametrize('name, flag', [('bilinear', cv2.INTER_LINEAR),
                                        ('area', cv2.INTER_AREA),
                                        ('nearest', cv2.INTER_NEAREST)])
def test_resize_uses_opencv_interpolation(name, flag):
    frames = random_frames()
    results = Resize(scale=(40, 30), keep_ratio=False,
                     interpolation=name)(dict(imgs=frames.copy()))
    for got, frame in zip(results['imgs'], frames):
        assert np.array_equal(got, cv2.resize(frame, (40, 30),
                                              interpolation=flag))


@pytest.mark.parametrize('kwargs', [
    dict(scale=(-1, 30), keep_ratio=False),
    dict(scale=(0, 30)),
    dict(scale=-2.0),
    dict(scale=(30, 30), interpolation='cubic'),
])
def test_resize_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        Resize(**kwargs)


def test_random_resized_crop_same_box_for_all_frames():
    frames = random_frames(count=6)
    np.random.seed(1)
    results = RandomResizedCrop()(dict(imgs=frames.copy()))
    left, top, right, bottom = results['crop_bbox']
    assert results['imgs'].shape == (6, bottom - top, right - left, 3)
    for got, frame in zip(results['imgs'], frames):
        assert np.array_equal(got, frame[top:bottom, left:right])


def test_random_resized_crop_area_and_aspect_ranges():
    transform = RandomResizedCrop(area_range=(0.3, 0.6),
                                  aspect_ratio_range=(0.8, 1.25))
    np.random.seed(0)
    for _ in range(50):
        left, top, right, bottom = transform.crop_box(200, 100)
        width, height = right - left, bottom - top
        assert 0 <= left
        assert right <= 200
        assert 0 <= top
        assert bottom <= 100
        # Rounding the sides moves area and ratio by about a pixel.
        assert 0.3 * 0.95 <= width * height / 20000 <= 0.6 * 1.05
        assert 0.8 * 0.95 <= width / height <= 1.25 * 1.05


def test_random_resized_crop_falls_back_to_centre_square():
    transform = RandomResizedCrop(area_range=(0.9, 1.0),
                                  aspect_ratio_range=(5.0, 6.0))
    np.random.seed(0)
    assert transform.crop_box(80, 60) == [10, 0, 70, 60]


def test_center_crop_box():
    frames = random_frames()
    results = CenterCrop(crop_size=(40, 20))(dict(imgs=frames.copy()))
    assert results['crop_bbox'].tolist() == [20, 20, 60, 40]
    assert np.array_equal(results['imgs'], frames[:, 20:40, 20:60])
    assert results['img_shape'] == (20, 40)


def test_center_crop_larger_than_frame_raises():
    with pytest.raises(ValueError, match='Resize'):
        CenterCrop(crop_size=100)(dict(imgs=random_frames()))


def test_three_crop_along_long_side():
    frames = random_frames(count=2)
    results = ThreeCrop(crop_size=60)(dict(imgs=frames.copy()))
    assert results['crop_bbox'].tolist() == [[0, 0, 60, 60], [10, 0, 70, 60],
                                             [20, 0, 80, 60]]
    assert results['num_crops'] == 3
    assert results['imgs'].shape == (6, 60, 60, 3)
    # Crop-major: both frames of the left crop come first.
    assert np.array_equal(results['imgs'][1], frames[1, :, 0:60])
    assert np.array_equal(results['imgs'][2], frames[0, :, 10:70])


def test_three_crop_needs_short_side_covered():
    with pytest.raises(ValueError, match='short side'):
        ThreeCrop(crop_size=40)(dict(imgs=random_frames()))


def test_ten_crop_corners_centre_and_mirrors():
    frames = random_frames(count=2)
    results = TenCrop(crop_size=(40, 30))(dict(imgs=frames.copy()))
    assert results['num_crops'] == 10
    assert results['imgs'].shape == (20, 30, 40, 3)
    assert results['crop_bbox'].tolist() == [
        [0, 0, 40, 30], [40, 0, 80, 30], [0, 30, 40, 60], [40, 30, 80, 60],
        [20, 15, 60, 45]
    ]
    lower_right = frames[:, 30:60, 40:80]
    assert np.array_equal(results['imgs'][12:14], lower_right)
    assert np.array_equal(results['imgs'][14:16], lower_right[:, :, ::-1])


@pytest.mark.parametrize('direction, axis', [('horizontal', 2),
                                             ('vertical', 1)])
def test_flip_all_frames_or_none(direction, axis):
    frames = random_frames()
    flipped = Flip(flip_ratio=1.0, direction=direction)(dict(imgs=frames))
    assert flipped['flip'] is True
    assert np.array_equal(flipped['imgs'], np.flip(frames, axis=axis))
    unchanged = Flip(flip_ratio=0.0, direction=direction)(dict(imgs=frames))
    assert unchanged['flip'] is False
    assert np.array_equal(unchanged['imgs'], frames)


def test_flip_ratio_is_a_probability():
    np.random.seed(0)
    flips = [Flip(flip_ratio=0.5)(dict(imgs=random_frames(1)))['flip']
             for _ in range(400)]
    assert 150 < sum(flips) < 250


def test_transforms_built_from_registry():
    for name in ('Resize', 'RandomResizedCrop', 'CenterCrop', 'ThreeCrop',
                 'TenCrop', 'Flip'):
        assert TRANSFORMS.get(name).__name__ == name


def test_transform_before_decode_raises():
    with pytest.raises(KeyError, match='VideoDecode'):
        Flip()(dict(filename='video.mp4'))


def test_flip_maps_labels_only_when_it_flips():
    label_map = {1: 2, 2: 1}
    for label, expected in ((1, 2), (2, 1), (0, 0), (4, 4)):
        flipped = Flip(flip_ratio=1.0, flip_label_map=label_map)(
            dict(imgs=random_frames(), label=label))
        assert flipped['label'] == expected
    unflipped = Flip(flip_ratio=0.0, flip_label_map=label_map)(
        dict(imgs=random_frames(), label=1))
    assert unflipped['label'] == 1


def test_flip_label_map_indices_or_names():
    assert Flip(flip_label_map={'1': 2}).flip_label_map == {1: 2}
    named = Flip(flip_ratio=1.0, flip_label_map={'pan_left': 'pan_right'})
    assert named.flip_label_map == {'pan_left': 'pan_right'}
    with pytest.raises(TypeError, match='flip_label_map'):
        Flip(flip_label_map=[(1, 2)])
    with pytest.raises(TypeError, match='flip_label_map'):
        Flip(flip_label_map={1.5: 2})
    # Names left unresolved by a dataset must not be ignored.
    with pytest.raises(ValueError, match="names classes \\('pan_left'\\)"):
        named(dict(imgs=random_frames(), label=1))
