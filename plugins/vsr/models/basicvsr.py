"""BasicVSR (Chan et al., "BasicVSR: The Search for Essential Components in
Video Super-Resolution and Beyond", CVPR 2021)."""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vidft.finetune import init_cfg_loads_checkpoint
from vidft.models.ops import flow_warp

from ..degradations import imresize_torch
from ..registry import MODELS
from .base import VSRModel
from .spynet import SPyNet

LEAKY_SLOPE = 0.1
# Residual branches start small so that a deep stack begins near identity.
RESIDUAL_INIT_SCALE = 0.1


class ResidualBlock(nn.Module):
    """``x + conv2(relu(conv1(x)))`` with 3x3 convolutions, no normalisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode='fan_in')
            conv.weight.data.mul_(RESIDUAL_INIT_SCALE)
            nn.init.zeros_(conv.bias)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class PropagationBranch(nn.Module):
    """One propagation direction: a 3x3 input convolution that merges the LR
    frame with the warped hidden state, then ``num_blocks`` residual
    blocks."""

    def __init__(self, in_channels: int, channels: int,
                 num_blocks: int) -> None:
        super().__init__()
        self.input_conv = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(
            *(ResidualBlock(channels) for _ in range(num_blocks)))

    def forward(self, x: Tensor) -> Tensor:
        x = F.leaky_relu(self.input_conv(x), LEAKY_SLOPE)
        return self.blocks(x)


class PixelShuffleUpsample(nn.Module):
    """A 3x3 convolution to four times the channels, then a x2 pixel
    shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels * 4, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


@MODELS.register_module()
class BasicVSR(VSRModel):
    """Bidirectional recurrent VSR with optical-flow alignment.

    A backward branch runs from the last frame to the first and a forward
    branch from the first to the last. Each warps its hidden state onto the
    current frame with SPyNet flow (:func:`vidft.models.ops.flow_warp`),
    concatenates the LR frame and refines the result with residual blocks.
    The two states of each frame are fused by a 1x1 convolution, upsampled by
    pixel-shuffle stages (one per factor 2) and added to the upsampled LR
    frame (bilinear in the published model).

    With ``scale=4, mid_channels=64, num_blocks=30`` the layout is that of
    the published model, so mmagic and BasicSR checkpoints load with
    :func:`vidft_vsr.checkpoint.load_vsr_checkpoint`. The upsampling stages
    keep ``mid_channels`` channels (the published model has 64 there).

    Args:
        scale: Upscaling factor, 2 or 4.
        mid_channels: Channels of the hidden state.
        num_blocks: Residual blocks per propagation branch.
        spynet_pretrained: SPyNet checkpoint (vidft, mmagic or BasicSR key
            names) loaded into the flow estimator at construction. Without
            one, SPyNet starts at zero flow (see
            :class:`~vidft_vsr.models.spynet.SPyNet` ``zero_init``).
        base_upsampling: Upsampling of the LR frame that the network's
            residual is added to: ``'bilinear'`` (the published model, needed
            for its checkpoints to give their results) or ``'bicubic'``
            (MATLAB-style, :func:`vidft_vsr.degradations.imresize_torch`),
            which starts an untrained model at bicubic quality.
        loss: Config of the pixel loss.
        data_preprocessor: Config of the data preprocessor.
        init_cfg: mmengine initialisation config.
    """

    SCALES = (2, 4)
    BASE_UPSAMPLINGS = ('bilinear', 'bicubic')

    def __init__(self,
                 scale: int = 4,
                 mid_channels: int = 64,
                 num_blocks: int = 30,
                 spynet_pretrained: Optional[str] = None,
                 base_upsampling: str = 'bilinear',
                 loss: Optional[dict] = dict(type='CharbonnierLoss'),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if scale not in self.SCALES:
            raise ValueError(f'expected scale in {self.SCALES}, got {scale}')
        if base_upsampling not in self.BASE_UPSAMPLINGS:
            raise ValueError(f'expected base_upsampling in '
                             f'{self.BASE_UPSAMPLINGS}, got '
                             f'{base_upsampling!r}')
        super().__init__(scale=scale, loss=loss,
                         data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.mid_channels = mid_channels
        self.base_upsampling = base_upsampling

        self.spynet_pretrained = spynet_pretrained
        self.spynet = SPyNet(zero_init=spynet_pretrained is None)
        self.backward_branch = PropagationBranch(mid_channels + 3,
                                                 mid_channels, num_blocks)
        self.forward_branch = PropagationBranch(mid_channels + 3,
                                                mid_channels, num_blocks)
        self.fusion = nn.Conv2d(2 * mid_channels, mid_channels, 1)
        self.upsample = nn.ModuleList(
            PixelShuffleUpsample(mid_channels)
            for _ in range(int(math.log2(scale))))
        self.conv_hr = nn.Conv2d(mid_channels, mid_channels, 3, padding=1)
        self.conv_last = nn.Conv2d(mid_channels, 3, 3, padding=1)

        if spynet_pretrained is not None:
            from ..checkpoint import load_vsr_checkpoint
            load_vsr_checkpoint(self.spynet, spynet_pretrained)

    def init_weights(self) -> None:
        super().init_weights()
        # After init_cfg, which would otherwise undo SPyNet's zero flow,
        # unless init_cfg loaded weights.
        if self.spynet_pretrained is None and \
                not init_cfg_loads_checkpoint(self.init_cfg):
            for level in self.spynet.levels:
                level.zero_output()

    def compute_flows(self, lrs: Tensor) -> Tuple[Tensor, Tensor]:
        """Return the flows ``(B, T - 1, 2, h, w)`` from frame ``i`` to
        ``i + 1`` (used by the backward branch) and from ``i + 1`` to ``i``
        (used by the forward branch)."""
        b, t, c, h, w = lrs.shape
        earlier = lrs[:, :-1].reshape(-1, c, h, w)
        later = lrs[:, 1:].reshape(-1, c, h, w)
        to_next = self.spynet(earlier, later).view(b, t - 1, 2, h, w)
        to_previous = self.spynet(later, earlier).view(b, t - 1, 2, h, w)
        return to_next, to_previous

    def _reconstruct(self, backward_state: Tensor, forward_state: Tensor,
                     lr: Tensor) -> Tensor:
        x = F.leaky_relu(
            self.fusion(torch.cat([backward_state, forward_state], 1)),
            LEAKY_SLOPE)
        for stage in self.upsample:
            x = F.leaky_relu(stage(x), LEAKY_SLOPE)
        x = F.leaky_relu(self.conv_hr(x), LEAKY_SLOPE)
        x = self.conv_last(x)
        return x + self._upsample_base(lr)

    def _upsample_base(self, lr: Tensor) -> Tensor:
        if self.base_upsampling == 'bicubic':
            h, w = lr.shape[-2:]
            return imresize_torch(lr, (h * self.scale, w * self.scale))
        return F.interpolate(lr, scale_factor=self.scale, mode='bilinear',
                             align_corners=False)

    def upscale(self, lrs: Tensor) -> Tensor:
        if lrs.dim() != 5 or lrs.shape[2] != 3:
            raise ValueError(f'expected LR frames (B, T, 3, h, w), got shape '
                             f'{tuple(lrs.shape)}')
        b, t, _, h, w = lrs.shape
        if t > 1:
            to_next, to_previous = self.compute_flows(lrs)

        # Backward propagation: from the last frame to the first.
        backward_states = [None] * t
        state = lrs.new_zeros(b, self.mid_channels, h, w)
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                state = flow_warp(state, to_next[:, i])
            state = self.backward_branch(torch.cat([lrs[:, i], state], 1))
            backward_states[i] = state

        # Forward propagation, reconstructing each frame as it goes.
        outputs = []
        state = lrs.new_zeros(b, self.mid_channels, h, w)
        for i in range(t):
            if i > 0:
                state = flow_warp(state, to_previous[:, i - 1])
            state = self.forward_branch(torch.cat([lrs[:, i], state], 1))
            outputs.append(
                self._reconstruct(backward_states[i], state, lrs[:, i]))
        return torch.stack(outputs, dim=1)
