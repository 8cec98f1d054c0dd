"""SPyNet optical-flow estimator (Ranjan and Black, CVPR 2017), in the
variant of BasicVSR: six pyramid levels without batch normalisation."""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidft.models.ops import flow_warp

from ..registry import MODELS

NUM_LEVELS = 6
# Each level halves the resolution, so the input is resized to a multiple
# of 2 ** (NUM_LEVELS - 1).
SIZE_MULTIPLE = 2**(NUM_LEVELS - 1)
# ImageNet statistics the published SPyNet weights expect on RGB in [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SPyNetLevel(nn.Module):
    """Five 7x7 convolutions (8-32-64-32-16-2 channels, ReLU between) that
    predict a flow residual from the reference frame, the warped supporting
    frame and the current flow."""

    CHANNELS = (8, 32, 64, 32, 16, 2)

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, kernel_size=7, padding=3)
            for c_in, c_out in zip(self.CHANNELS[:-1], self.CHANNELS[1:]))

    def forward(self, x: Tensor) -> Tensor:
        for index, conv in enumerate(self.convs):
            x = conv(x)
            if index < len(self.convs) - 1:
                x = F.relu(x)
        return x

    def zero_output(self) -> None:
        """Make the level predict a zero flow residual."""
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)


@MODELS.register_module()
class SPyNet(nn.Module):
    """Estimate the optical flow from ``ref`` to ``supp``.

    ``forward(ref, supp)`` takes RGB frames in ``[0, 1]``, ``(N, 3, H, W)`` of
    any size, and returns the flow ``(N, 2, H, W)`` in pixels, in the
    convention of :func:`vidft.models.ops.flow_warp`: warping ``supp`` by it
    aligns ``supp`` with ``ref``. Inputs are normalised with the ImageNet mean
    and std, as the published weights expect, resized bilinearly to a
    multiple of 32 for the pyramid, and the flow is resized back with its
    components rescaled.

    Args:
        zero_init: Start at zero flow by zero-initialising the last
            convolution of every level. With PyTorch's default
            initialisation an untrained SPyNet predicts a flow of about half
            a pixel whatever the frames, which blurs every warped feature.
            At zero flow it starts as no alignment and learns from there.
    """

    def __init__(self, zero_init: bool = False) -> None:
        super().__init__()
        self.levels = nn.ModuleList(SPyNetLevel() for _ in range(NUM_LEVELS))
        if zero_init:
            for level in self.levels:
                level.zero_output()
        # Constants, not weights: kept out of the state dict.
        self.register_buffer(
            'mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1),
            persistent=False)
        self.register_buffer(
            'std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1),
            persistent=False)

    def _pyramid(self, frames: Tensor) -> List[Tensor]:
        levels = [(frames - self.mean) / self.std]
        for _ in range(NUM_LEVELS - 1):
            levels.append(F.avg_pool2d(levels[-1], kernel_size=2, stride=2))
        return levels[::-1]  # coarsest first

    def _flow_at_multiple(self, ref: Tensor, supp: Tensor) -> Tensor:
        refs, supps = self._pyramid(ref), self._pyramid(supp)
        n, _, h, w = refs[0].shape
        flow = refs[0].new_zeros(n, 2, h, w)
        for level, module in enumerate(self.levels):
            if level > 0:
                # Twice the resolution means twice the displacement.
                flow = 2.0 * F.interpolate(
                    flow, scale_factor=2, mode='bilinear', align_corners=True)
            warped = flow_warp(supps[level], flow, padding_mode='border')
            flow = flow + module(torch.cat([refs[level], warped, flow], 1))
        return flow

    def forward(self, ref: Tensor, supp: Tensor) -> Tensor:
        if ref.shape != supp.shape or ref.dim() != 4 or ref.shape[1] != 3:
            raise ValueError(f'expected ref and supp of one shape (N, 3, H, '
                             f'W), got {tuple(ref.shape)} and '
                             f'{tuple(supp.shape)}')
        h, w = ref.shape[-2:]
        h_up = -(-h // SIZE_MULTIPLE) * SIZE_MULTIPLE
        w_up = -(-w // SIZE_MULTIPLE) * SIZE_MULTIPLE
        if (h_up, w_up) != (h, w):
            ref = F.interpolate(ref, size=(h_up, w_up), mode='bilinear',
                                align_corners=False)
            supp = F.interpolate(supp, size=(h_up, w_up), mode='bilinear',
                                 align_corners=False)

        flow = self._flow_at_multiple(ref, supp)
        if (h_up, w_up) == (h, w):
            return flow
        flow = F.interpolate(flow, size=(h, w), mode='bilinear',
                             align_corners=False)
        factors = flow.new_tensor([w / w_up, h / h_up]).view(1, 2, 1, 1)
        return flow * factors
