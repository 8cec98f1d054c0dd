import pytest
import torch

from vidft.models.ops import flow_warp


def _ramp(height: int = 6, width: int = 8) -> torch.Tensor:
    values = torch.arange(height * width, dtype=torch.float32)
    return values.view(1, 1, height, width).repeat(2, 3, 1, 1)


def test_zero_flow_is_identity():
    x = torch.rand(2, 4, 5, 7)
    flow = torch.zeros(2, 2, 5, 7)
    assert torch.allclose(flow_warp(x, flow), x, atol=1e-6)


def test_integer_horizontal_shift():
    x = _ramp()
    flow = torch.zeros(2, 2, 6, 8)
    flow[:, 0] = 1.0  # sample one pixel to the right
    warped = flow_warp(x, flow)
    assert torch.allclose(warped[..., :-1], x[..., 1:])
    # The last column samples outside the image: zeros padding.
    assert torch.all(warped[..., -1] == 0)


def test_integer_vertical_shift_border_padding():
    x = _ramp()
    flow = torch.zeros(2, 2, 6, 8)
    flow[:, 1] = -1.0  # sample one pixel up
    warped = flow_warp(x, flow, padding_mode='border')
    assert torch.allclose(warped[..., 1:, :], x[..., :-1, :])
    assert torch.allclose(warped[..., 0, :], x[..., 0, :])


def test_half_pixel_is_mean_of_neighbours():
    x = _ramp()
    flow = torch.zeros(2, 2, 6, 8)
    flow[:, 0] = 0.5
    warped = flow_warp(x, flow)
    expected = 0.5 * (x[..., :-1] + x[..., 1:])
    assert torch.allclose(warped[..., :-1], expected)


def test_autocast_keeps_float32_sampling():
    # Far from the origin float16 cannot hold a quarter-pixel offset, so a
    # half-precision grid would sample the wrong place.
    width = 2048
    x = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width)
    x = x.repeat(1, 1, 2, 1)
    flow = torch.zeros(1, 2, 2, width)
    flow[:, 0] = 0.25
    reference = flow_warp(x, flow)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        warped = flow_warp(x, flow.bfloat16())
    assert warped.dtype == torch.float32
    assert torch.allclose(warped[..., :-1], reference[..., :-1])
    assert torch.allclose(reference[0, 0, 0, 1900], torch.tensor(1900.25))


def test_half_input_keeps_its_dtype():
    x = torch.rand(1, 2, 4, 4).bfloat16()
    warped = flow_warp(x, torch.zeros(1, 2, 4, 4))
    assert warped.dtype == torch.bfloat16


def test_flow_shape_mismatch_raises():
    x = torch.rand(1, 3, 4, 5)
    with pytest.raises(ValueError, match='permute'):
        flow_warp(x, torch.zeros(1, 4, 5, 2))


def test_gradient_reaches_flow():
    x = _ramp()
    flow = torch.full((2, 2, 6, 8), 0.3, requires_grad=True)
    flow_warp(x, flow).sum().backward()
    assert flow.grad is not None
    assert flow.grad[:, 0].abs().sum() > 0
