"""Tests of the PSNR / SSIM / IE metric and the losses."""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from vidft_interpolation.evaluation import InterpolationMetric, interpolation_error
from vidft_interpolation.losses import CensusLoss, LaplacianPyramidLoss


def test_interpolation_error_of_constant_offset():
    gt = np.random.default_rng(0).integers(20, 200, (16, 16, 3)).astype(np.uint8)
    assert interpolation_error(gt + 10, gt) == pytest.approx(10.0)
    # Opposite offsets in R and G partly cancel in the grey level.
    shifted = gt.astype(np.int16)
    shifted[..., 0] += 10
    shifted[..., 1] -= 10
    expected = abs(0.299 * 10 - 0.587 * 10)
    assert interpolation_error(shifted.astype(np.uint8), gt) == pytest.approx(expected)


def test_metric_over_all_samples():
    gt = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    offsets = [4 / 255, 8 / 255]
    samples = [BaseDataElement(gt_frame=gt, pred_frame=gt + offset) for offset in offsets]
    metric = InterpolationMetric()
    metric.process({}, samples)
    results = metric.compute_metrics(metric.results)

    expected_psnr = np.mean([20 * math.log10(255 / 4), 20 * math.log10(255 / 8)])
    assert results['PSNR'] == pytest.approx(expected_psnr, abs=0.05)
    assert results['IE'] == pytest.approx(6.0, abs=0.05)
    assert 0.9 < results['SSIM'] < 1.0
    assert len(metric.results) == 2


def test_laplacian_loss_zero_only_for_equal_images():
    loss = LaplacianPyramidLoss(num_levels=4)
    image = torch.rand(2, 3, 32, 32)
    assert loss(image, image).item() == 0.0
    assert loss(image, image.flip(-1)).item() > 0.0
    # A constant offset survives only in the coarsest level.
    torch.testing.assert_close(loss(image + 0.1, image), torch.tensor(0.1), atol=1e-5, rtol=0)


def test_census_loss_ignores_brightness_offset():
    loss = CensusLoss(patch_size=5)
    image = torch.rand(1, 3, 20, 20) * 0.5
    assert loss(image + 0.2, image).item() < 1e-6
    assert loss(image.flip(-1), image).item() > 0.05


def test_metric_scores_frame_averaging_baseline():
    generator = torch.Generator().manual_seed(1)
    frame0 = torch.randint(0, 256, (3, 16, 16), generator=generator, dtype=torch.uint8)
    frame1 = torch.randint(0, 256, (3, 16, 16), generator=generator, dtype=torch.uint8)
    gt = (frame0.float() + frame1.float()) / 2 / 255.0
    sample = BaseDataElement(gt_frame=gt, pred_frame=torch.zeros_like(gt),
                             metainfo=dict(timestep=0.5))
    metric = InterpolationMetric(frame_averaging_baseline=True)
    metric.process({'inputs': [torch.stack([frame0, frame1])]}, [sample])
    results = metric.compute_metrics(metric.results)
    assert results['IE_frame_averaging'] < 0.5  # only rounding differs
    assert results['PSNR_frame_averaging'] > 50
    assert results['PSNR'] < 15
