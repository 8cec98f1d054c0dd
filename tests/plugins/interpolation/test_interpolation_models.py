"""Tests of the interpolation models: timestep handling, symmetry, autocast, padding."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import BaseDataElement

from vidft.registry import MODELS
from vidft_interpolation.models import (RIFE, FrameAveraging, IntermediateFlowNet,
                                        NearestFrame, crop_to, fuse, pad_to_multiple)


def small_rife(**kwargs) -> RIFE:
    cfg = dict(flow_channels=(16, 8), scales=(2, 1), num_convs=1, refine_channels=4)
    cfg.update(kwargs)
    return RIFE(**cfg)


def zero_flow_heads(model: RIFE) -> None:
    """Make every IFBlock predict zero flow and a zero mask logit."""
    for block in model.flow_net.blocks:
        torch.nn.init.zeros_(block.head.weight)
        torch.nn.init.zeros_(block.head.bias)


def frames(num: int = 1, height: int = 16, width: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(num, 2, 3, height, width, generator=generator)


def samples_at(timesteps) -> list:
    return [BaseDataElement(metainfo=dict(timestep=t)) for t in timesteps]


def test_t0_returns_first_frame_with_zero_flow():
    model = small_rife(timestep_prior=True).eval()
    zero_flow_heads(model)
    inputs = frames(2)
    with torch.no_grad():
        at_zero = model(inputs, samples_at([0.0, 0.0]))
        at_one = model(inputs, samples_at([1.0, 1.0]))
    torch.testing.assert_close(at_zero, inputs[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(at_one, inputs[:, 1], atol=1e-5, rtol=0)


def test_init_as_averaging_matches_baseline():
    model = small_rife(init_as_averaging=True)
    inputs = frames(2)
    timesteps = [0.5, 0.25]
    with torch.no_grad():
        out = model.eval()(inputs, samples_at(timesteps))
    expected = FrameAveraging().eval()(inputs, samples_at(timesteps))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    # The zeroed output layers still get gradients, so training moves them.
    model.train()
    model.interpolate(inputs[:, 0], inputs[:, 1],
                      torch.tensor(timesteps)).square().mean().backward()
    assert model.flow_net.blocks[-1].head.weight.grad.abs().sum() > 0
    assert model.refine.out.weight.grad.abs().sum() > 0


def test_timestep_prior_weights_frames():
    warped0 = torch.zeros(1, 3, 4, 4)
    warped1 = torch.ones(1, 3, 4, 4)
    mask = torch.zeros(1, 1, 4, 4)  # sigmoid 0.5: no preference from the mask
    for t in (0.0, 0.25, 0.5, 1.0):
        fused = fuse(warped0, warped1, mask, torch.tensor([t]), timestep_prior=True)
        torch.testing.assert_close(fused, torch.full_like(fused, t))
    plain = fuse(warped0, warped1, mask, torch.tensor([0.1]), timestep_prior=False)
    torch.testing.assert_close(plain, torch.full_like(plain, 0.5))


def test_timestep_reaches_network_as_channel():
    model = small_rife(timestep_prior=False, refine_channels=None).eval()
    inputs = frames(1)
    with torch.no_grad():
        early = model(inputs, samples_at([0.2]))
        late = model(inputs, samples_at([0.8]))
    assert (early - late).abs().max() > 0


def test_ensemble_is_swap_symmetric():
    torch.manual_seed(0)
    model = small_rife(ensemble=True).eval()
    inputs = frames(2, seed=1)
    swapped = inputs.flip(1)
    with torch.no_grad():
        forward = model(inputs, samples_at([0.3, 0.5]))
        backward = model(swapped, samples_at([0.7, 0.5]))
    torch.testing.assert_close(forward, backward, atol=1e-5, rtol=0)


def test_baselines_follow_timestep():
    inputs = frames(3)
    samples = samples_at([0.25, 0.5, 0.75])
    averaged = FrameAveraging()(inputs, samples)
    expected = torch.stack([0.75 * inputs[0, 0] + 0.25 * inputs[0, 1],
                            0.5 * inputs[1, 0] + 0.5 * inputs[1, 1],
                            0.25 * inputs[2, 0] + 0.75 * inputs[2, 1]])
    torch.testing.assert_close(averaged, expected)

    nearest = NearestFrame()(inputs, samples)
    torch.testing.assert_close(nearest[0], inputs[0, 0])
    torch.testing.assert_close(nearest[1], inputs[1, 0])
    torch.testing.assert_close(nearest[2], inputs[2, 1])


def test_pad_and_crop_are_exact():
    x = torch.rand(2, 2, 3, 37, 53)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape[-2:] == (48, 64)
    assert size == (37, 53)
    torch.testing.assert_close(crop_to(padded, size), x, atol=0, rtol=0)
    # Replicate padding repeats the last row and column.
    torch.testing.assert_close(padded[..., 47, :53], x[..., 36, :], atol=0, rtol=0)
    torch.testing.assert_close(padded[..., :37, 63], x[..., :, 52], atol=0, rtol=0)


def test_odd_size_prediction_matches_input_size():
    model = small_rife().eval()
    inputs = frames(1, height=37, width=53)
    with torch.no_grad():
        pred = model(inputs)
    assert pred.shape == (1, 3, 37, 53)

    # A static pair stays exactly static through padding and cropping.
    static = inputs[:, :1].expand(-1, 2, -1, -1, -1)
    averaged = FrameAveraging()(static)
    torch.testing.assert_close(averaged, static[:, 0], atol=1e-6, rtol=0)


def test_flow_net_rejects_unpadded_size():
    net = IntermediateFlowNet(channels=(8,), scales=(2,), num_convs=1)
    assert net.size_divisor == 8
    with pytest.raises(ValueError, match='multiples of 8'):
        net(torch.rand(1, 3, 12, 16), torch.rand(1, 3, 12, 16), torch.tensor([0.5]))


def test_sampling_stays_float32_under_autocast(monkeypatch):
    grid_dtypes = []
    input_dtypes = []
    original = F.grid_sample

    def recording_grid_sample(input, grid, *args, **kwargs):
        input_dtypes.append(input.dtype)
        grid_dtypes.append(grid.dtype)
        return original(input, grid, *args, **kwargs)

    monkeypatch.setattr(F, 'grid_sample', recording_grid_sample)
    model = small_rife()
    inputs = frames(1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        pred = model(inputs, samples_at([0.4]))
    assert grid_dtypes, 'the model did not warp with grid_sample'
    assert set(grid_dtypes) == {torch.float32}
    assert set(input_dtypes) == {torch.float32}
    assert torch.isfinite(pred).all()


def test_loss_and_predict_modes():
    model = MODELS.build(dict(
        type='interpolation.RIFE', flow_channels=(8,), scales=(1,), num_convs=1,
        refine_channels=4,
        pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=3),
        census_loss=dict(type='interpolation.CensusLoss', loss_weight=0.1)))
    inputs = frames(2)
    samples = [BaseDataElement(gt_frame=torch.rand(3, 16, 16), metainfo=dict(timestep=0.5))
               for _ in range(2)]
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_pixel', 'loss_census'}
    assert all(value.requires_grad for value in losses.values())

    predicted = model(inputs, samples, mode='predict')
    assert predicted[0].pred_frame.shape == (3, 16, 16)

    without_samples = model(inputs, mode='predict')
    assert len(without_samples) == 2
    assert without_samples[1].pred_frame.shape == (3, 16, 16)


def test_warp_loss_compares_warped_frames():
    model = MODELS.build(dict(
        type='interpolation.RIFE', flow_channels=(8,), scales=(1,), num_convs=1,
        refine_channels=4, init_as_averaging=True, warp_loss_weight=0.5,
        pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=3)))
    # 15x13 frames are padded to the model's multiple, and the loss compares
    # the crop back to 15x13.
    inputs = frames(2, height=15, width=13)
    gt = torch.rand(2, 3, 15, 13)
    samples = [BaseDataElement(gt_frame=frame, metainfo=dict(timestep=0.5))
               for frame in gt]
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_pixel', 'loss_warp'}
    # At zero flow the warped frames are the inputs themselves.
    expected = 0.5 * (model.pixel_loss(inputs[:, 0], gt) +
                      model.pixel_loss(inputs[:, 1], gt)) / 2
    torch.testing.assert_close(losses['loss_warp'], expected)
    losses['loss_warp'].backward()
    assert model.flow_net.blocks[0].head.weight.grad.abs().sum() > 0
    for bad in (-1.0, float('nan')):
        with pytest.raises(ValueError, match='warp_loss_weight'):
            small_rife(warp_loss_weight=bad)


def test_flow_distill_loss_endpoint_distance():
    model = MODELS.build(dict(
        type='interpolation.RIFE', flow_channels=(8, 8), scales=(2, 1), num_convs=1,
        refine_channels=None, init_as_averaging=True, flow_distill_weight=0.1,
        pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=3)))
    inputs = frames(2, height=15, width=13)
    # A teacher flow of (3, 4) pixels for F_t->0 and (0, 0) for F_t->1: at
    # zero predicted flow the end-point distances are 5 and 0 in each block.
    teacher = torch.zeros(4, 15, 13)
    teacher[0], teacher[1] = 3.0, 4.0
    samples = [BaseDataElement(gt_frame=torch.rand(3, 15, 13), teacher_flow=teacher,
                               metainfo=dict(timestep=0.5)) for _ in range(2)]
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_pixel', 'loss_flow_distill'}
    torch.testing.assert_close(losses['loss_flow_distill'], torch.tensor(0.1 * 2.5),
                               atol=1e-4, rtol=0)
    losses['loss_flow_distill'].backward()
    for block in model.flow_net.blocks:
        assert block.head.weight.grad.abs().sum() > 0

    plain = [BaseDataElement(gt_frame=torch.rand(3, 15, 13), metainfo=dict(timestep=0.5))
             for _ in range(2)]
    with pytest.raises(ValueError, match='TeacherFlow'):
        model(inputs, plain, mode='loss')
    with pytest.raises(ValueError, match='flow_distill_weight'):
        small_rife(flow_distill_weight=-0.5)


def test_init_as_averaging_survives_init_cfg():
    model = small_rife(init_as_averaging=True,
                       init_cfg=dict(type='Kaiming', layer='ConvTranspose2d'))
    model.init_weights()
    inputs = frames(1)
    with torch.no_grad():
        out = model.eval()(inputs, samples_at([0.5]))
    torch.testing.assert_close(out, inputs.mean(dim=1), atol=1e-6, rtol=0)


def test_invalid_timestep_and_mode():
    model = FrameAveraging()
    with pytest.raises(ValueError, match='timestep in'):
        model(frames(1), samples_at([1.5]))
    with pytest.raises(ValueError, match='mode'):
        model(frames(1), mode='train')
    with pytest.raises(ValueError, match='pixel_loss'):
        model(frames(1), [BaseDataElement(gt_frame=torch.rand(3, 16, 16))], mode='loss')
