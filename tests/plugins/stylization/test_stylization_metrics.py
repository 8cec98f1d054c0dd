import math

import pytest
import torch

import vidft_stylization  # noqa: F401
from stylization_helpers import lite0_loss_config
from vidft.registry import METRICS


@pytest.fixture(scope='module')
def metric():
    return METRICS.build(dict(type='stylization.StylizationMetric',
                              perceptual_loss=lite0_loss_config()))


def _sample(pred, flow, mask):
    return dict(pred_frames=pred, flow=flow, valid_mask=mask)


def test_warping_error_units_and_pooling(metric):
    metric.results.clear()
    torch.manual_seed(0)
    inputs = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    flow = torch.zeros(2, 16, 16)
    full = torch.ones(1, 16, 16)
    half = torch.zeros(1, 16, 16)
    half[..., :8] = 1.0
    still = torch.rand(1, 3, 16, 16).repeat(2, 1, 1, 1)
    brighter = still.clone()
    brighter[1] = (brighter[1] + 0.1)
    # Pair 1 has no change (error 0 over 256 pixels), pair 2 changes by
    # 0.1 = 25.5 grey levels over 128 pixels: pooled 25.5 * 128 / 384.
    metric.process(dict(inputs=[inputs, inputs]),
                   [_sample(still, flow, full), _sample(brighter, flow, half)])
    results = metric.compute_metrics(metric.results)
    assert results['warping_error'] == pytest.approx(25.5 * 128 / 384,
                                                     rel=1e-4)
    assert results['input_warping_error'] > 0
    assert results['style_loss'] > 0
    assert results['content_loss'] > 0


def test_style_and_content_use_frame_t(metric, lite0_loss):
    metric.results.clear()
    inputs = torch.randint(0, 256, (2, 3, 16, 16), dtype=torch.uint8)
    pred = torch.rand(2, 3, 16, 16)
    metric.process(dict(inputs=[inputs]),
                   [_sample(pred, torch.zeros(2, 16, 16),
                            torch.ones(1, 16, 16))])
    expected = lite0_loss.compute(pred[1:], inputs[1:].float() / 255)
    result = metric.results[0]
    assert result['style'] == pytest.approx(float(expected['style']),
                                            rel=1e-4)
    assert result['content'] == pytest.approx(float(expected['content']),
                                              rel=1e-4)


def test_all_occluded_reports_nan(metric):
    metric.results.clear()
    inputs = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    metric.process(dict(inputs=[inputs]),
                   [_sample(torch.rand(2, 3, 8, 8), torch.zeros(2, 8, 8),
                            torch.zeros(1, 8, 8))])
    assert math.isnan(metric.compute_metrics(metric.results)['warping_error'])


def test_missing_flow_raises(metric):
    with pytest.raises(KeyError, match='with_flow=True'):
        metric.process(dict(inputs=[torch.zeros(2, 3, 8, 8)]),
                       [dict(pred_frames=torch.rand(2, 3, 8, 8))])
