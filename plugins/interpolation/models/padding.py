"""Padding of frames to a size the network accepts, and exact cropping back."""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(frames: Tensor, divisor: int) -> Tuple[Tensor, Tuple[int, int]]:
    """Pad ``frames`` (..., H, W) on the bottom and right to multiples of ``divisor``.

    The border pixels are repeated (replicate padding), so flow estimated
    near the edge matches image content instead of black. Returns the padded
    tensor and the original ``(H, W)`` for :func:`crop_to`.
    """
    if divisor < 1:
        raise ValueError(f'expected a size divisor >= 1, got {divisor}')
    height, width = frames.shape[-2:]
    pad_h = (divisor - height % divisor) % divisor
    pad_w = (divisor - width % divisor) % divisor
    if pad_h == 0 and pad_w == 0:
        return frames, (height, width)

    leading = frames.shape[:-3]
    flat = frames.reshape(-1, *frames.shape[-3:])
    padded = F.pad(flat, (0, pad_w, 0, pad_h), mode='replicate')
    return padded.reshape(*leading, *padded.shape[-3:]), (height, width)


def crop_to(frames: Tensor, size: Tuple[int, int]) -> Tensor:
    """Crop ``frames`` (..., H, W) back to the top-left ``size`` (H, W)."""
    height, width = size
    if frames.shape[-2] < height or frames.shape[-1] < width:
        raise ValueError(f'expected frames of at least {height}x{width}, got '
                         f'{frames.shape[-2]}x{frames.shape[-1]}')
    return frames[..., :height, :width]
