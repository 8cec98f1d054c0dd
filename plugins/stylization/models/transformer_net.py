"""The feed-forward image transformation network of fast style transfer.

The layout follows Johnson et al., "Perceptual Losses for Real-Time Style
Transfer and Super-Resolution" (ECCV 2016), supplementary material, with the
changes that later work made standard and that ReCoNet (Gao et al., ACCV
2018) also uses: instance normalisation instead of batch normalisation
(Ulyanov et al., 2016), reflection padding, and nearest-neighbour
upsampling followed by a convolution instead of transposed convolutions,
which avoids checkerboard artefacts (Odena et al., Distill 2016).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..registry import MODELS

# Two stride-2 convolutions: frames are padded to a multiple of this.
SIZE_DIVISOR = 4
# The reflection padding of the 3x3 convolutions at 1/4 resolution needs at
# least 2 pixels there, so smaller frames are padded up to this size.
MIN_SIZE = 8


class ConvLayer(nn.Sequential):
    """Reflection padding, convolution, optional instance norm and ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1, norm: bool = True, relu: bool = True,
                 upsample: int = 1) -> None:
        layers = []
        if upsample > 1:
            layers.append(nn.Upsample(scale_factor=upsample, mode='nearest'))
        layers += [
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride)
        ]
        if norm:
            layers.append(nn.InstanceNorm2d(out_channels, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm and an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = ConvLayer(channels, channels, 3)
        self.conv2 = ConvLayer(channels, channels, 3, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.conv1(x))


@MODELS.register_module()
class TransformerNet(BaseModule):
    """Image transformation network for one style.

    Encoder: a 9x9 convolution and two stride-2 3x3 convolutions that double
    the channels each; ``num_res_blocks`` residual blocks at 1/4 resolution;
    decoder: two x2 upsampling convolutions and a 9x9 output convolution.
    Johnson et al. use ``base_channels=32`` and 5 residual blocks.

    Input and output are RGB in ``[0, 1]``, shape ``(N, 3, H, W)``, any
    ``H`` and ``W``: the input is padded at the bottom and right to a
    multiple of :data:`SIZE_DIVISOR` (and at least :data:`MIN_SIZE`) and the
    output cropped back. The output goes
    through ``(tanh(x) + 1) / 2``, so it always lies in ``[0, 1]``.

    Args:
        base_channels: Channels of the first convolution; the residual
            blocks have four times as many.
        num_res_blocks: Residual blocks between encoder and decoder.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, base_channels: int = 32, num_res_blocks: int = 5,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if base_channels < 1 or num_res_blocks < 0:
            raise ValueError(f'expected base_channels >= 1 and '
                             f'num_res_blocks >= 0, got {base_channels} and '
                             f'{num_res_blocks}')
        c = base_channels
        self.base_channels = base_channels
        self.num_res_blocks = num_res_blocks
        self.encoder = nn.Sequential(
            ConvLayer(3, c, 9),
            ConvLayer(c, 2 * c, 3, stride=2),
            ConvLayer(2 * c, 4 * c, 3, stride=2))
        self.res_blocks = nn.Sequential(
            *[ResidualBlock(4 * c) for _ in range(num_res_blocks)])
        self.decoder = nn.Sequential(
            ConvLayer(4 * c, 2 * c, 3, upsample=2),
            ConvLayer(2 * c, c, 3, upsample=2),
            ConvLayer(c, 3, 9, norm=False, relu=False))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'expected RGB images (N, 3, H, W), got shape '
                             f'{tuple(x.shape)}')
        h, w = x.shape[-2:]
        pad_h = max(h + -h % SIZE_DIVISOR, MIN_SIZE) - h
        pad_w = max(w + -w % SIZE_DIVISOR, MIN_SIZE) - w
        if pad_h or pad_w:
            # Reflection needs the pad smaller than the side; replicate
            # covers tiny frames.
            mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        y = self.decoder(self.res_blocks(self.encoder(x)))
        y = (torch.tanh(y) + 1.0) / 2.0
        return y[..., :h, :w]
