"""Tests of the classical flow prior of RIFE: intermediate flows, DIS on a
known shift, and the untrained model warping by the prior."""
import copy
import pickle

import pytest
import torch
import torch.nn.functional as F

from vidft.models.ops import flow_warp
from vidft_interpolation.models import RIFE, IntermediateFlowNet
from vidft_interpolation.models.flow_prior import ClassicalFlowPrior, intermediate_flows


def textured_strip(width: int, height: int = 64, seed: int = 0) -> torch.Tensor:
    """A smooth random RGB texture (3, height, width) in [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, height // 8, -(-width // 8), generator=generator)
    return F.interpolate(coarse, size=(height, width), mode='bicubic',
                         align_corners=False).clamp(0, 1)[0]


def shifted_triplet(shift: int = 4, width: int = 112):
    """Frames 0, middle and 1 (3, 64, width) of a texture moving ``shift``
    pixels to the right."""
    texture = textured_strip(width + shift)
    frame0 = texture[..., shift:shift + width]
    middle = texture[..., shift // 2:shift // 2 + width]
    frame1 = texture[..., :width]
    return frame0, middle, frame1


def test_intermediate_flows_at_middle_and_ends():
    flow_01 = torch.randn(2, 2, 5, 6)
    flow_10 = torch.randn(2, 2, 5, 6)
    middle = intermediate_flows(flow_01, flow_10, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(middle[:, :2], 0.25 * (flow_10 - flow_01))
    torch.testing.assert_close(middle[:, 2:], 0.25 * (flow_01 - flow_10))

    ends = intermediate_flows(flow_01, flow_10, torch.tensor([0.0, 1.0]))
    # At t = 0 frame 0 needs no warp and frame 1 is warped by F_0->1.
    torch.testing.assert_close(ends[0, :2], torch.zeros(2, 5, 6))
    torch.testing.assert_close(ends[0, 2:], flow_01[0])
    # At t = 1 frame 0 is warped by F_1->0 and frame 1 needs none.
    torch.testing.assert_close(ends[1, :2], flow_10[1])
    torch.testing.assert_close(ends[1, 2:], torch.zeros(2, 5, 6))


def test_dis_prior_recovers_known_shift():
    frame0, _, frame1 = shifted_triplet(shift=4)
    prior = ClassicalFlowPrior(dict(method='dis', preset='medium'))
    flow_01, flow_10 = prior.bidirectional(frame0[None], frame1[None])
    # The texture moves right, so a pixel of frame 0 is found 4 pixels to
    # its right in frame 1. Borders are left out: the content there leaves
    # the frame.
    inner = (slice(8, -8), slice(8, -8))
    assert flow_01[0, 0][inner].median().item() == pytest.approx(4.0, abs=0.25)
    assert flow_01[0, 1][inner].abs().median().item() < 0.25
    assert flow_10[0, 0][inner].median().item() == pytest.approx(-4.0, abs=0.25)


def test_prior_flows_warp_to_middle_frame():
    frame0, middle, frame1 = shifted_triplet(shift=4)
    prior = ClassicalFlowPrior()
    flows = prior(frame0[None], frame1[None], torch.tensor([0.5]))
    inner = (Ellipsis, slice(8, -8), slice(8, -8))
    warped0 = flow_warp(frame0[None], flows[:, :2], padding_mode='border')[0]
    warped1 = flow_warp(frame1[None], flows[:, 2:], padding_mode='border')[0]
    average_error = ((frame0 + frame1) / 2 - middle)[inner].abs().mean()
    for warped in (warped0, warped1):
        warp_error = (warped - middle)[inner].abs().mean()
        assert warp_error < 0.2 * average_error


def test_untrained_prior_averages_warped_frames():
    frame0, middle, frame1 = shifted_triplet(shift=4)
    model = RIFE(flow_channels=(16, 8), scales=(2, 1), num_convs=1, refine_channels=4,
                 init_as_averaging=True, flow_prior=dict(method='dis')).eval()
    inputs = torch.stack((frame0, frame1))[None]
    timestep = torch.tensor([0.5])
    with torch.no_grad():
        pred = model.predict_frames(inputs, timestep)[0]
    flows = ClassicalFlowPrior()(frame0[None], frame1[None], timestep)
    expected = (flow_warp(frame0[None], flows[:, :2], padding_mode='border') +
                flow_warp(frame1[None], flows[:, 2:], padding_mode='border'))[0] / 2
    torch.testing.assert_close(pred, expected, atol=1e-6, rtol=0)
    inner = (Ellipsis, slice(8, -8), slice(8, -8))
    averaging_error = ((frame0 + frame1) / 2 - middle)[inner].abs().mean()
    assert (pred - middle)[inner].abs().mean() < 0.2 * averaging_error


def test_prior_first_block_gets_gradient():
    model = RIFE(flow_channels=(16, 8), scales=(2, 1), num_convs=1, refine_channels=4,
                 init_as_averaging=True, flow_prior=dict(method='dis', preset='ultrafast'))
    # Every block, the first included, reads warped frames, mask and flows.
    first_conv = model.flow_net.blocks[0].stem[0].conv
    assert first_conv.in_channels == model.flow_net.blocks[1].stem[0].conv.in_channels
    frame0, _, frame1 = shifted_triplet(shift=2)
    inputs = torch.stack((frame0, frame1))[None]
    model.interpolate(inputs[:, 0], inputs[:, 1], torch.tensor([0.5])).mean().backward()
    assert model.flow_net.blocks[0].head.weight.grad.abs().sum() > 0


def test_flow_net_checks_init_flow():
    frames = torch.rand(1, 3, 16, 16)
    timestep = torch.tensor([0.5])
    with_prior = IntermediateFlowNet((8,), (1,), num_convs=1, initial_flow=True)
    with pytest.raises(ValueError, match='init_flow'):
        with_prior(frames, frames, timestep)
    with pytest.raises(ValueError, match=r'shape \(1, 4, 16, 16\)'):
        with_prior(frames, frames, timestep, init_flow=torch.zeros(1, 4, 8, 8))
    without_prior = IntermediateFlowNet((8,), (1,), num_convs=1)
    with pytest.raises(ValueError, match='initial_flow=True'):
        without_prior(frames, frames, timestep, init_flow=torch.zeros(1, 4, 16, 16))


def test_prior_model_copies_after_use():
    model = RIFE(flow_channels=(8,), scales=(1,), num_convs=1, refine_channels=None,
                 flow_prior=dict(method='dis', preset='ultrafast')).eval()
    inputs = torch.rand(1, 2, 3, 32, 32)
    with torch.no_grad():
        expected = model(inputs)
    # The OpenCV flow object cannot be pickled, so copies make their own.
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        with torch.no_grad():
            torch.testing.assert_close(clone(inputs), expected)


def test_prior_rejects_unknown_flow_settings():
    with pytest.raises(ValueError, match='DIS preset'):
        RIFE(flow_channels=(8,), scales=(1,), num_convs=1,
             flow_prior=dict(method='dis', preset='slowest'))


def test_prior_on_tiny_frames():
    # DIS itself crashes on some sides below 32 pixels, so the frames are
    # padded for it and the flow cropped back.
    frame0, _, frame1 = shifted_triplet(shift=4, width=300)
    frame0, frame1 = frame0[:, 24:40], frame1[:, 24:40]
    prior = ClassicalFlowPrior(dict(method='dis', preset='ultrafast'))
    flow_01, _ = prior.bidirectional(frame0[None], frame1[None])
    assert flow_01.shape == (1, 2, 16, 300)
    assert flow_01[0, 0, :, 8:-8].median().item() == pytest.approx(4.0, abs=0.25)
