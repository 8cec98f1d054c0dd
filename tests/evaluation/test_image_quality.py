import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vidft.evaluation.image_quality import (PSNR, SSIM, calculate_psnr,
                                            calculate_ssim, rgb_to_y,
                                            to_uint8)


def _pair(seed: int = 0, shape=(48, 56, 3), noise: int = 12):
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 256, shape, dtype=np.uint8)
    # Smooth the reference so SSIM is not dominated by noise-on-noise.
    reference = ((reference.astype(np.float64) + np.roll(reference, 1, 0) +
                  np.roll(reference, 1, 1)) / 3).astype(np.uint8)
    offsets = rng.integers(-noise, noise + 1, shape)
    image = np.clip(reference.astype(int) + offsets, 0, 255).astype(np.uint8)
    return image, reference


def _y_reference(image: np.ndarray) -> np.ndarray:
    # BT.601 luma written out independently of the code under test.
    r, g, b = [image[..., c].astype(np.float64) / 255 for c in range(3)]
    return 16 + 65.481 * r + 128.553 * g + 24.966 * b


def _skimage_ssim(a, b, **kwargs):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, data_range=255,
                                 **kwargs)


def test_rgb_to_y_known_values():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0]]],
                      dtype=np.uint8)
    y = rgb_to_y(pixels)
    assert y[0, 0] == pytest.approx(16.0)
    assert y[0, 1] == pytest.approx(235.0)
    assert y[0, 2] == pytest.approx(81.481)


def test_psnr_y_matches_skimage_with_crop():
    image, reference = _pair()
    crop = 4
    expected = peak_signal_noise_ratio(
        _y_reference(reference)[crop:-crop, crop:-crop],
        _y_reference(image)[crop:-crop, crop:-crop], data_range=255)
    assert calculate_psnr(image, reference, crop_border=crop,
                          channel='y') == pytest.approx(expected, abs=1e-10)


def test_psnr_rgb_matches_skimage():
    image, reference = _pair(seed=1)
    expected = peak_signal_noise_ratio(reference, image, data_range=255)
    assert calculate_psnr(image, reference, crop_border=0,
                          channel='rgb') == pytest.approx(expected,
                                                          abs=1e-10)


def test_ssim_y_matches_skimage():
    image, reference = _pair(seed=2)
    crop = 2
    expected = _skimage_ssim(_y_reference(image)[crop:-crop, crop:-crop],
                             _y_reference(reference)[crop:-crop, crop:-crop])
    assert calculate_ssim(image, reference, crop_border=crop,
                          channel='y') == pytest.approx(expected, abs=1e-9)


def test_ssim_rgb_matches_skimage():
    image, reference = _pair(seed=3)
    expected = _skimage_ssim(image, reference, channel_axis=2)
    assert calculate_ssim(image, reference,
                          channel='rgb') == pytest.approx(expected, abs=1e-9)


def test_rgb_and_y_differ_on_blue_noise():
    # Noise in the blue channel only: Y weighs blue by 24.966 / 255, so the
    # Y-channel figures must be clearly better than the RGB ones.
    _, reference = _pair(seed=4)
    rng = np.random.default_rng(5)
    image = reference.copy()
    blue = reference[..., 2].astype(int) + rng.integers(-30, 31,
                                                        reference.shape[:2])
    image[..., 2] = np.clip(blue, 0, 255)

    psnr_y = calculate_psnr(image, reference, channel='y')
    psnr_rgb = calculate_psnr(image, reference, channel='rgb')
    assert psnr_y == pytest.approx(
        peak_signal_noise_ratio(_y_reference(reference), _y_reference(image),
                                data_range=255), abs=1e-10)
    assert psnr_rgb == pytest.approx(
        peak_signal_noise_ratio(reference, image, data_range=255), abs=1e-10)
    assert psnr_y > psnr_rgb + 5

    ssim_y = calculate_ssim(image, reference, channel='y')
    ssim_rgb = calculate_ssim(image, reference, channel='rgb')
    assert ssim_y == pytest.approx(
        _skimage_ssim(_y_reference(image), _y_reference(reference)),
        abs=1e-9)
    assert ssim_y > ssim_rgb


def test_identical_images_psnr_inf_ssim_one():
    _, reference = _pair(seed=6)
    assert math.isinf(calculate_psnr(reference, reference))
    assert calculate_ssim(reference, reference) == pytest.approx(1.0)


def test_to_uint8_rounds_floats():
    values = np.array([[[0.6 / 255, 1.49 / 255, 1.0]]])
    assert to_uint8(values).tolist() == [[[1, 1, 255]]]
    tensor = torch.full((3, 2, 2), 0.2)
    assert to_uint8(tensor).shape == (2, 2, 3)
    assert to_uint8(tensor)[0, 0, 0] == round(0.2 * 255)


def test_invalid_arguments_raise():
    image, reference = _pair()
    with pytest.raises(ValueError, match='channel'):
        calculate_psnr(image, reference, channel='ycbcr')
    with pytest.raises(ValueError, match='shape'):
        calculate_psnr(image, reference[:-1])
    with pytest.raises(ValueError, match='crop_border'):
        calculate_ssim(image, reference, crop_border=20)


def _sample(pred, gt, sequence, scale=2):
    return dict(pred_frames=pred, gt_frames=gt, sequence=sequence,
                scale=scale)


def test_metric_per_sequence_and_mean():
    frames = {}
    for name, seed, count in (('calm', 10, 2), ('busy', 20, 3)):
        gts, preds = [], []
        for index in range(count):
            pred, gt = _pair(seed=seed + index, shape=(24, 24, 3),
                             noise=4 if name == 'calm' else 30)
            preds.append(pred)
            gts.append(gt)
        frames[name] = (np.stack(preds), np.stack(gts))

    metric = PSNR(channel='y', crop_border=None)
    for name, (preds, gts) in frames.items():
        # Predictions as float tensors in [0, 1], ground truth as uint8.
        pred = torch.from_numpy(preds).permute(0, 3, 1, 2).double() / 255
        gt = torch.from_numpy(gts).permute(0, 3, 1, 2)
        metric.process({}, [_sample(pred, gt, name)])
    result = metric.evaluate(size=2)

    per_sequence = {
        name: np.mean([
            calculate_psnr(p, g, crop_border=2, channel='y')
            for p, g in zip(*frames[name])
        ]) for name in frames
    }
    prefix = 'Y-crop2-range255/'
    assert result[prefix + 'PSNR/calm'] == pytest.approx(per_sequence['calm'])
    assert result[prefix + 'PSNR/busy'] == pytest.approx(per_sequence['busy'])
    assert result[prefix + 'PSNR'] == pytest.approx(
        (per_sequence['calm'] + per_sequence['busy']) / 2)
    all_frames = [calculate_psnr(p, g, 2, 'y') for name in frames
                  for p, g in zip(*frames[name])]
    assert result[prefix + 'PSNR_frames'] == pytest.approx(
        np.mean(all_frames))


def test_ssim_metric_explicit_settings():
    pred, gt = _pair(seed=30, shape=(32, 32, 3))
    metric = SSIM(channel='rgb', crop_border=3)
    metric.process({}, [
        _sample(
            torch.from_numpy(pred).permute(2, 0, 1),
            torch.from_numpy(gt).permute(2, 0, 1), 'one')
    ])
    result = metric.evaluate(size=1)
    assert result['RGB-crop3-range255/SSIM'] == pytest.approx(
        calculate_ssim(pred, gt, crop_border=3, channel='rgb'))


def test_metric_without_scale_needs_crop_border():
    pred, gt = _pair(shape=(24, 24, 3))
    metric = PSNR()
    with pytest.raises(KeyError, match='crop_border'):
        metric.process({}, [dict(pred_frames=pred.transpose(2, 0, 1),
                                 gt_frames=gt.transpose(2, 0, 1))])
