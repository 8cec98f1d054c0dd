"""Reconstruction losses for frame interpolation."""
from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .registry import LOSSES

# Binomial 5-tap filter (1 4 6 4 1) / 16 of the Burt-Adelson pyramid.
_BINOMIAL_5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f'expected prediction and target of one shape, got '
                         f'{tuple(pred.shape)} and {tuple(target.shape)}')


@LOSSES.register_module()
class LaplacianPyramidLoss(nn.Module):
    """L1 distance between the Laplacian pyramids of prediction and target.

    Each level is the difference between an image and the upsampled version
    of its blurred, half-size copy; the coarsest level is the blurred
    residual. The loss is the sum over levels of the mean absolute
    difference, times ``loss_weight``. Every level counts as much as the
    finest, so errors in coarse structure weigh more than in a plain L1.

    Args:
        num_levels: Number of pyramid levels; inputs need at least
            ``2 ** (num_levels - 1)`` pixels per side.
        loss_weight: Factor on the loss.
    """

    def __init__(self, num_levels: int = 5, loss_weight: float = 1.0) -> None:
        super().__init__()
        if num_levels < 1:
            raise ValueError(f'expected num_levels >= 1, got {num_levels}')
        self.num_levels = num_levels
        self.loss_weight = loss_weight
        taps = torch.tensor(_BINOMIAL_5)
        kernel = torch.outer(taps, taps) / taps.sum() ** 2
        self.register_buffer('kernel', kernel.view(1, 1, 5, 5), persistent=False)

    def _blur(self, x: Tensor) -> Tensor:
        channels = x.shape[1]
        kernel = self.kernel.to(x.dtype).expand(channels, 1, 5, 5)
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode='reflect'), kernel, groups=channels)

    def pyramid(self, x: Tensor) -> List[Tensor]:
        """Return the Laplacian pyramid of ``x`` (N, C, H, W), finest level first."""
        levels = []
        current = x
        for _ in range(self.num_levels - 1):
            if min(current.shape[-2:]) < 3:
                raise ValueError(
                    f'expected images of at least {3 * 2 ** (self.num_levels - 1)} '
                    f'pixels per side for {self.num_levels} pyramid levels, got '
                    f'{tuple(x.shape[-2:])}; lower num_levels')
            down = self._blur(current)[..., ::2, ::2]
            up = F.interpolate(down, size=current.shape[-2:], mode='bilinear',
                               align_corners=False)
            levels.append(current - up)
            current = down
        levels.append(current)
        return levels

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        _check_pair(pred, target)
        pred, target = pred.float(), target.float()
        loss = pred.new_zeros(())
        for p, t in zip(self.pyramid(pred), self.pyramid(target)):
            loss = loss + (p - t).abs().mean()
        return self.loss_weight * loss


@LOSSES.register_module()
class CensusLoss(nn.Module):
    """Soft Hamming distance between census transforms of grey images.

    The census transform describes each pixel by the differences to its
    ``patch_size`` x ``patch_size`` neighbours, squashed to (-1, 1) by
    ``d / sqrt(0.81 + d ** 2)``. It is therefore insensitive to a brightness
    offset.
    Two descriptors differ per neighbour by ``e ** 2 / (0.1 + e ** 2)``. The
    loss is the mean of the distance over neighbours and pixels;
    pixels closer than ``patch_size // 2`` to the border are excluded.

    Args:
        patch_size: Odd side of the neighbourhood.
        loss_weight: Factor on the loss.
    """

    def __init__(self, patch_size: int = 7, loss_weight: float = 1.0) -> None:
        super().__init__()
        if patch_size < 3 or patch_size % 2 == 0:
            raise ValueError(f'expected an odd patch_size >= 3, got {patch_size}')
        self.patch_size = patch_size
        self.loss_weight = loss_weight
        eye = torch.eye(patch_size * patch_size)
        self.register_buffer('offsets', eye.view(-1, 1, patch_size, patch_size),
                             persistent=False)

    def _transform(self, image: Tensor) -> Tensor:
        grey = (0.299 * image[:, 0:1] + 0.587 * image[:, 1:2] + 0.114 * image[:, 2:3]) * 255.0
        neighbours = F.conv2d(grey, self.offsets.to(grey.dtype), padding=self.patch_size // 2)
        diff = neighbours - grey
        return diff / torch.sqrt(0.81 + diff ** 2)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        _check_pair(pred, target)
        if pred.shape[1] != 3:
            raise ValueError(f'expected RGB images (N, 3, H, W), got {tuple(pred.shape)}')
        diff = self._transform(pred.float()) - self._transform(target.float())
        distance = (diff ** 2 / (0.1 + diff ** 2)).mean(dim=1)
        border = self.patch_size // 2
        distance = distance[:, border:-border, border:-border]
        return self.loss_weight * distance.mean()
