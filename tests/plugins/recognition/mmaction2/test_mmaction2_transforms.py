"""recognition.MultiScaleCrop, the crop of mmaction2's TSN/TSM pipelines."""
import numpy as np
import pytest

from vidft_recognition.mmaction2 import MultiScaleCrop

SCALES = (1, 0.875, 0.75, 0.66)


def frames(height=40, width=60, num_frames=3):
    return np.zeros((num_frames, height, width, 3), np.uint8)


def test_crop_sides_come_from_scales():
    np.random.seed(0)
    crop = MultiScaleCrop(32, scales=SCALES, max_wh_scale_gap=1)
    sides = [int(40 * s) for s in SCALES]  # the short side is 40
    seen = set()
    for _ in range(200):
        results = crop.transform(dict(imgs=frames()))
        height, width = results['img_shape']
        assert results['imgs'].shape == (3, height, width, 3)
        assert height in sides
        assert width in sides
        # Width and height scales are at most one position apart.
        assert abs(sides.index(height) - sides.index(width)) <= 1
        seen.add((width, height))
    assert len(seen) == 10  # every allowed pair of the 4 scales


def test_fixed_offsets_are_corners_and_centre():
    np.random.seed(1)
    crop = MultiScaleCrop(32, scales=(0.5, ), random_crop=False)
    # 60x40 frames, 20x20 crops: offset steps of 10 and 5 pixels.
    boxes = {tuple(crop.transform(dict(imgs=frames()))['crop_bbox'])
             for _ in range(100)}
    assert boxes == {(0, 0, 20, 20), (40, 0, 60, 20), (0, 20, 20, 40),
                     (40, 20, 60, 40), (20, 10, 40, 30)}


def test_thirteen_fixed_offsets():
    np.random.seed(2)
    crop = MultiScaleCrop(32, scales=(0.5, ), num_fixed_crops=13)
    boxes = {tuple(crop.transform(dict(imgs=frames()))['crop_bbox'])
             for _ in range(400)}
    assert len(boxes) == 13


def test_same_box_for_all_frames():
    np.random.seed(3)
    clip = np.random.randint(0, 255, (4, 40, 60, 3), np.uint8)
    results = MultiScaleCrop(32, scales=SCALES).transform(dict(imgs=clip))
    left, top, right, bottom = results['crop_bbox']
    assert np.array_equal(results['imgs'], clip[:, top:bottom, left:right])


@pytest.mark.parametrize('options', [dict(scales=()), dict(scales=(1.5, )),
                                     dict(num_fixed_crops=7),
                                     dict(input_size=(1, 2, 3))])
def test_invalid_options_raise(options):
    options = dict(dict(input_size=32), **options)
    with pytest.raises(ValueError):
        MultiScaleCrop(**options)
