"""Degradations that make LR frames from HR frames.

Bicubic resizing follows MATLAB's ``imresize`` (the "BI" degradation of the
VSR literature, used to make the LR frames of REDS and Vimeo-90K):

* the cubic convolution kernel of Keys (1981) with ``a = -0.5``;
* antialiasing when downscaling by ``s``: the kernel is stretched to
  ``k(x) = k_cubic(x / s) / s``, so its support grows from 4 to ``4 s``
  input pixels;
* pixel centres aligned (input coordinate of output pixel ``i`` is
  ``(i + 0.5) * s - 0.5``), weights normalised to sum to one, and samples
  beyond the border mirrored symmetrically (``-1 -> 0``, ``n -> n - 1``);
* uint8 input gives uint8 output, rounded to the nearest integer.

The resize is separable and linear: each axis has a few taps per output
pixel (:func:`resize_taps`), and numpy and torch share them. As a matrix
(:func:`resize_matrix`) a frame is resized as ``W_h @ frame @ W_w.T``.
"""
import math
from functools import lru_cache
from typing import Optional, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

CUBIC_A = -0.5


def cubic_kernel(x: np.ndarray, a: float = CUBIC_A) -> np.ndarray:
    """Evaluate the cubic convolution kernel of Keys (1981) at ``x``."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    x2, x3 = x * x, x * x * x
    inner = (a + 2) * x3 - (a + 3) * x2 + 1
    outer = a * x3 - 5 * a * x2 + 8 * a * x - 4 * a
    return np.where(x <= 1, inner, np.where(x < 2, outer, 0.0))


@lru_cache(maxsize=64)
def resize_taps(in_size: int, out_size: int,
                antialias: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Return the input indices and weights, both ``(out_size, taps)``, of a
    bicubic resize along one axis (conventions in the module docstring).

    Indices beyond the border are already mirrored, and each row of weights
    sums to one.
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f'expected sizes >= 1, got in_size={in_size}, '
                         f'out_size={out_size}')
    scale = out_size / in_size
    stretch = 1.0 / scale if (antialias and scale < 1) else 1.0
    support = 2.0 * stretch

    centres = (np.arange(out_size) + 0.5) / scale - 0.5
    first = np.floor(centres - support).astype(np.int64)
    taps = int(math.ceil(2 * support)) + 2
    positions = first[:, None] + np.arange(taps)[None, :]
    weights = cubic_kernel((centres[:, None] - positions) / stretch) / stretch
    weights /= weights.sum(axis=1, keepdims=True)

    # Symmetric padding: the sequence 0..n-1, n-1..0 repeats.
    period = 2 * in_size
    folded = np.mod(positions, period)
    mirrored = np.where(folded < in_size, folded, period - 1 - folded)
    return mirrored, weights


def resize_matrix(in_size: int, out_size: int,
                  antialias: bool = True) -> np.ndarray:
    """Return the resize along one axis as an ``(out_size, in_size)``
    float64 matrix (built from :func:`resize_taps`)."""
    indices, weights = resize_taps(in_size, out_size, antialias)
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    rows = np.repeat(np.arange(out_size), indices.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())
    return matrix


def _resize_axis_numpy(values: np.ndarray, out_size: int, axis: int,
                       antialias: bool) -> np.ndarray:
    indices, weights = resize_taps(values.shape[axis], out_size, antialias)
    shape = [1] * values.ndim
    shape[axis] = out_size
    result = np.zeros(values.shape[:axis] + (out_size, ) +
                      values.shape[axis + 1:])
    # One pass per tap keeps memory at the size of the output.
    for tap in range(indices.shape[1]):
        gathered = np.take(values, indices[:, tap], axis=axis)
        result += gathered * weights[:, tap].reshape(shape)
    return result


def imresize(image: np.ndarray,
             size: Tuple[int, int],
             antialias: bool = True) -> np.ndarray:
    """Resize ``image`` ``(H, W)`` or ``(H, W, C)`` to ``size = (height,
    width)`` with MATLAB-style bicubic interpolation.

    uint8 input is rounded and clipped back to uint8; float input stays
    float64 and is not clipped.
    """
    if image.ndim not in (2, 3):
        raise ValueError(f'expected an image (H, W) or (H, W, C), got shape '
                         f'{image.shape}')
    out_h, out_w = size
    resized = _resize_axis_numpy(image.astype(np.float64), out_h, 0,
                                 antialias)
    resized = _resize_axis_numpy(resized, out_w, 1, antialias)
    if image.dtype == np.uint8:
        return np.clip(np.round(resized), 0, 255).astype(np.uint8)
    return resized


def _resize_axis_torch(values: Tensor, out_size: int, dim: int,
                       antialias: bool) -> Tensor:
    indices, weights = resize_taps(values.shape[dim], out_size, antialias)
    indices = torch.from_numpy(indices).to(values.device)
    weights = torch.from_numpy(weights).to(values)
    shape = [1] * values.dim()
    shape[dim] = out_size
    result = None
    for tap in range(indices.shape[1]):
        term = values.index_select(dim, indices[:, tap]) * weights[:, tap].view(
            shape)
        result = term if result is None else result + term
    return result


def imresize_torch(frames: Tensor,
                   size: Tuple[int, int],
                   antialias: bool = True) -> Tensor:
    """Resize float ``frames`` ``(..., H, W)`` to ``size`` with the same
    bicubic as :func:`imresize`, without rounding or clipping."""
    if not frames.is_floating_point():
        raise TypeError(f'expected a float tensor, got {frames.dtype}')
    out_h, out_w = size
    resized = _resize_axis_torch(frames, out_h, frames.dim() - 2, antialias)
    return _resize_axis_torch(resized, out_w, frames.dim() - 1, antialias)


def bicubic_downsample(image: np.ndarray, scale: int) -> np.ndarray:
    """Downsample ``image`` by the integer ``scale`` (height and width must
    be multiples of it; :func:`mod_crop` makes them so)."""
    height, width = image.shape[:2]
    if height % scale or width % scale:
        raise ValueError(
            f'expected height and width divisible by scale {scale}, got '
            f'{height}x{width}; crop the HR frames with mod_crop first')
    return imresize(image, (height // scale, width // scale))


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom and right edges of ``image`` to multiples of
    ``scale``."""
    height, width = image.shape[:2]
    return image[:height - height % scale, :width - width % scale]


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Blur with an isotropic Gaussian of ``sigma`` pixels; the kernel spans
    ``2 * ceil(3 sigma) + 1`` pixels and borders are mirrored."""
    if sigma <= 0:
        return image
    size = 2 * int(math.ceil(3 * sigma)) + 1
    blurred = cv2.GaussianBlur(
        image.astype(np.float64), (size, size), sigmaX=sigma, sigmaY=sigma,
        borderType=cv2.BORDER_REFLECT)
    if image.dtype == np.uint8:
        return np.clip(np.round(blurred), 0, 255).astype(np.uint8)
    return blurred


def add_gaussian_noise(image: np.ndarray, sigma: float,
                       rng: np.random.Generator) -> np.ndarray:
    """Add white Gaussian noise of ``sigma`` 8-bit levels to a uint8 image."""
    if sigma <= 0:
        return image
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB uint8 image as JPEG at ``quality`` (0-100, OpenCV's
    libjpeg) and decode it again."""
    if not 0 <= quality <= 100:
        raise ValueError(f'expected a JPEG quality in [0, 100], got '
                         f'{quality}')
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode('.jpg', bgr,
                               [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError(f'OpenCV failed to JPEG-encode an image of shape '
                           f'{image.shape}')
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR),
                        cv2.COLOR_BGR2RGB)


def degrade_frames(frames: np.ndarray,
                   scale: int,
                   blur_sigma: float = 0.0,
                   noise_sigma: float = 0.0,
                   jpeg_quality: Optional[int] = None,
                   rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """Make LR frames ``(T, H / scale, W / scale, 3)`` from uint8 HR frames.

    The steps run in this order: Gaussian blur of the HR frame (sigma in HR
    pixels), bicubic downsampling, Gaussian noise (sigma in 8-bit levels,
    drawn independently per frame), JPEG re-encoding. With the defaults only
    the bicubic downsampling runs (the BI degradation).
    """
    if frames.dtype != np.uint8 or frames.ndim != 4:
        raise ValueError(f'expected uint8 frames (T, H, W, C), got '
                         f'{frames.dtype} {frames.shape}')
    rng = rng if rng is not None else np.random.default_rng()
    degraded = []
    for frame in frames:
        frame = gaussian_blur(frame, blur_sigma)
        frame = bicubic_downsample(frame, scale)
        frame = add_gaussian_noise(frame, noise_sigma, rng)
        if jpeg_quality is not None:
            frame = jpeg_compress(frame, jpeg_quality)
        degraded.append(frame)
    return np.stack(degraded)
