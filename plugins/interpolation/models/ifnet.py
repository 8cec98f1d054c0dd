"""Intermediate-flow estimation in the style of RIFE (hzwer/ECCV2022-RIFE).

A stack of IFBlocks runs coarse to fine. Block ``i`` reads the frames
downscaled by ``scales[i]``, and every block after the first refines the
flows and the fusion-mask logit of the one before from the frames warped
with them. The flows are the intermediate flows ``F_t->0`` and ``F_t->1``,
estimated directly from the two frames and the timestep ``t``, which enters
as one extra input channel filled with ``t``. Frames are warped backward
with :func:`vidft.models.ops.flow_warp` (``grid_sample``, border padding).

The block layout (two stride-2 convolutions, residual convolutions with a
learned per-channel scale, a transposed convolution followed by a pixel
shuffle producing 6 channels) has the tensor shapes of the public RIFE v4.6
``IFNet``, so those weights load through
:mod:`vidft_interpolation.converters`.
"""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidft.models.ops import flow_warp

#: Channels an IFBlock predicts per pixel: 4 for the flows F_t->0 and
#: F_t->1, 1 for the fusion-mask logit, and 1 that RIFE v4.6 checkpoints
#: carry but never read; it stays so that their weights load unchanged.
HEAD_CHANNELS = 6

#: Slope of the leaky ReLUs, as in RIFE v4.
NEGATIVE_SLOPE = 0.2

# Input channels of the first block: two frames and the timestep map. Every
# later block also reads the mask logit and the four flow channels, and its
# frames are the warped ones.
FIRST_BLOCK_INPUTS = 3 + 3 + 1
LATER_BLOCK_INPUTS = 3 + 3 + 1 + 1 + 4


class ConvLReLU(nn.Module):
    """A 3x3 convolution followed by a leaky ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride, 1)
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class ResidualConv(nn.Module):
    """``lrelu(conv(x) * scale + x)`` with a learned per-channel ``scale``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.act = nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x) * self.scale + x)


class IFBlock(nn.Module):
    """One scale of the flow estimator.

    Args:
        in_channels: Channels of the block input without the flow.
        channels: Width of the block.
        num_convs: Number of residual convolutions.
    """

    def __init__(self, in_channels: int, channels: int, num_convs: int = 8) -> None:
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f'expected an even block width >= 2, got {channels}')
        self.stem = nn.Sequential(
            ConvLReLU(in_channels, channels // 2, stride=2),
            ConvLReLU(channels // 2, channels, stride=2))
        self.body = nn.Sequential(*[ResidualConv(channels) for _ in range(num_convs)])
        self.head = nn.ConvTranspose2d(channels, 4 * HEAD_CHANNELS, 4, 2, 1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: Tensor, flow: Optional[Tensor],
                scale: int) -> Tuple[Tensor, Tensor]:
        """Return the flow (N, 4, H, W) in pixels and the mask logit (N, 1, H, W).

        ``x`` and ``flow`` (None for the first block) are at full resolution;
        the block works at 1 / ``scale`` of it.
        """
        height, width = x.shape[-2:]
        low = (height // scale, width // scale)
        if scale != 1:
            x = F.interpolate(x, size=low, mode='bilinear', align_corners=False)
        if flow is not None:
            if scale != 1:
                flow = F.interpolate(flow, size=low, mode='bilinear',
                                     align_corners=False) / scale
            x = torch.cat((x, flow.to(x.dtype)), dim=1)

        out = self.shuffle(self.head(self.body(self.stem(x))))
        if scale != 1:
            out = F.interpolate(out, size=(height, width), mode='bilinear',
                                align_corners=False)
        return out[:, :4].float() * scale, out[:, 4:5].float()


def swap_flows(flow: Tensor) -> Tensor:
    """Exchange F_t->0 (channels 0-1) and F_t->1 (channels 2-3)."""
    return torch.cat((flow[:, 2:4], flow[:, :2]), dim=1)


class IntermediateFlowNet(nn.Module):
    """Coarse-to-fine estimator of the intermediate flows and fusion mask.

    Args:
        channels: Width of each IFBlock, coarsest first; their number is
            the number of blocks.
        scales: Downscaling factor of each block, one per block, usually
            decreasing powers of two ending at 1.
        num_convs: Residual convolutions per block.
        ensemble: Also run every block on the swapped frame pair with
            ``1 - t`` and average the two estimates. This doubles the cost
            and makes the result symmetric under swapping the frames.
        initial_flow: The caller passes initial flows to :meth:`forward`
            (``init_flow``), so the first block refines them from the
            warped frames like every later block, instead of estimating
            flows from the frames alone.
    """

    def __init__(self,
                 channels: Sequence[int] = (192, 128, 96, 64),
                 scales: Sequence[int] = (8, 4, 2, 1),
                 num_convs: int = 8,
                 ensemble: bool = False,
                 initial_flow: bool = False) -> None:
        super().__init__()
        if len(channels) == 0 or len(channels) != len(scales):
            raise ValueError(f'expected one scale per block, got {len(channels)} '
                             f'block widths and {len(scales)} scales')
        if any(int(s) != s or s < 1 for s in scales):
            raise ValueError(f'expected integer scales >= 1, got {list(scales)}')
        self.scales: List[int] = [int(s) for s in scales]
        self.ensemble = ensemble
        self.initial_flow = initial_flow
        self.blocks = nn.ModuleList(
            IFBlock(FIRST_BLOCK_INPUTS if i == 0 and not initial_flow
                    else LATER_BLOCK_INPUTS, c, num_convs)
            for i, c in enumerate(channels))

    @property
    def size_divisor(self) -> int:
        """Frame height and width must be multiples of this."""
        # Each block downscales by its scale, then by 4 with two strided convs.
        return math.lcm(*(4 * s for s in self.scales))

    def _run_block(self, index: int, frame0: Tensor, frame1: Tensor, time_map: Tensor,
                   mask: Optional[Tensor], flow: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        block, scale = self.blocks[index], self.scales[index]
        if flow is None:
            delta, mask_delta = block(torch.cat((frame0, frame1, time_map), 1), None, scale)
        else:
            inputs = torch.cat((frame0, frame1, time_map, mask.to(frame0.dtype)), 1)
            delta, mask_delta = block(inputs, flow, scale)
        if not self.ensemble:
            return delta, mask_delta

        # For the swapped pair at 1 - t the flows and the mask are exchanged.
        if flow is None:
            swapped = torch.cat((frame1, frame0, 1 - time_map), 1)
            delta_s, mask_delta_s = block(swapped, None, scale)
        else:
            swapped = torch.cat((frame1, frame0, 1 - time_map, -mask.to(frame0.dtype)), 1)
            delta_s, mask_delta_s = block(swapped, swap_flows(flow), scale)
        return (delta + swap_flows(delta_s)) / 2, (mask_delta - mask_delta_s) / 2

    def forward(self, frame0: Tensor, frame1: Tensor, timestep: Tensor,
                block_flows: Optional[List[Tensor]] = None,
                init_flow: Optional[Tensor] = None
                ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """Estimate flows and mask for frames (N, 3, H, W) at ``timestep`` (N,).

        Returns the flows (N, 4, H, W) in pixels (F_t->0 then F_t->1), the
        fusion-mask logit (N, 1, H, W), both float32, and the two frames
        warped to the instant ``t``. When a list is passed as
        ``block_flows``, the flow after each block is appended to it, the
        last one being the returned flow. ``init_flow`` (N, 4, H, W) is
        required when the network was built with ``initial_flow=True`` and
        rejected otherwise. The blocks start from it and a zero mask logit.
        """
        if (init_flow is None) == self.initial_flow:
            raise ValueError('expected init_flow exactly when the network is '
                             f'built with initial_flow=True; initial_flow is '
                             f'{self.initial_flow}')
        num, _, height, width = frame0.shape
        divisor = self.size_divisor
        if height % divisor or width % divisor:
            raise ValueError(f'expected a frame height and width that are '
                             f'multiples of {divisor}, got {height}x{width}; '
                             'pad with vidft_interpolation.models.padding.'
                             'pad_to_multiple first')
        time_map = timestep.to(frame0.dtype).view(num, 1, 1, 1).expand(num, 1, height, width)

        flow = mask = None
        warped0, warped1 = frame0, frame1
        if init_flow is not None:
            if init_flow.shape != (num, 4, height, width):
                raise ValueError(f'expected init_flow of shape {(num, 4, height, width)}'
                                 f', got {tuple(init_flow.shape)}')
            flow = init_flow.float()
            mask = flow.new_zeros(num, 1, height, width)
            warped0 = flow_warp(frame0, flow[:, :2], padding_mode='border')
            warped1 = flow_warp(frame1, flow[:, 2:4], padding_mode='border')
        for index in range(len(self.blocks)):
            delta, mask_delta = self._run_block(index, warped0, warped1, time_map,
                                                mask, flow)
            # Flows accumulate in float32 so that sampling positions keep
            # sub-pixel accuracy under autocast.
            flow = delta if flow is None else flow + delta
            mask = mask_delta if mask is None else mask + mask_delta
            if block_flows is not None:
                block_flows.append(flow)
            warped0 = flow_warp(frame0, flow[:, :2], padding_mode='border')
            warped1 = flow_warp(frame1, flow[:, 2:4], padding_mode='border')
        return flow, mask, warped0, warped1
