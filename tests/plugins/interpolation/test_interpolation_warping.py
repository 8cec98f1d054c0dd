"""A known flow predicted by an IFBlock moves a known pattern by that many pixels."""
import pytest
import torch

from vidft_interpolation.models import IntermediateFlowNet


def constant_flow_net(flow, scale: int) -> IntermediateFlowNet:
    """One IFBlock whose output is the constant flow ``flow`` (4 values, pixels)."""
    net = IntermediateFlowNet(channels=(8,), scales=(scale,), num_convs=1)
    head = net.blocks[0].head
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.zero_()
        # PixelShuffle(2) builds output channel c from head channels 4c..4c+3;
        # the block multiplies its flow by its scale.
        for channel, value in enumerate(flow):
            head.bias[4 * channel:4 * channel + 4] = value / scale
    return net


def square_frame(top: int, left: int, size: int = 16, side: int = 4) -> torch.Tensor:
    frame = torch.zeros(1, 3, size, size)
    frame[:, :, top:top + side, left:left + side] = 1.0
    return frame


@pytest.mark.parametrize('scale', [1, 2])
def test_known_flow_moves_square(scale):
    dx, dy = 3.0, 2.0
    net = constant_flow_net((dx, dy, -dx, -dy), scale)
    frame0 = square_frame(top=6, left=6)
    frame1 = square_frame(top=6, left=6)

    flow, mask, warped0, warped1 = net(frame0, frame1, torch.tensor([0.5]))

    torch.testing.assert_close(flow[:, 0], torch.full_like(flow[:, 0], dx))
    torch.testing.assert_close(flow[:, 3], torch.full_like(flow[:, 3], -dy))
    # Backward warping samples frame0 at x + dx, so the square moves left and up.
    torch.testing.assert_close(warped0, square_frame(top=6 - 2, left=6 - 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(warped1, square_frame(top=6 + 2, left=6 + 3), atol=1e-5, rtol=0)


def test_half_pixel_flow_blends_neighbours():
    net = constant_flow_net((0.5, 0.0, 0.0, 0.0), scale=1)
    frame = torch.zeros(1, 3, 8, 8)
    frame[..., 4] = 1.0  # a vertical line at x = 4

    _, _, warped0, _ = net(frame, frame, torch.tensor([0.5]))

    torch.testing.assert_close(warped0[0, 0, 2, 3], torch.tensor(0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(warped0[0, 0, 2, 4], torch.tensor(0.5), atol=1e-5, rtol=0)
    torch.testing.assert_close(warped0[0, 0, 2, 5], torch.tensor(0.0), atol=1e-5, rtol=0)
