"""Backward warping of images or feature maps by a dense optical flow.

Conventions, shared by every plugin that warps (super-resolution,
interpolation, stylization):

* ``flow`` has shape ``(N, 2, H, W)`` and is measured in pixels of ``x``.
  Channel 0 is the horizontal displacement (positive to the right), channel 1
  the vertical one (positive downwards).
* The warp is backward: output pixel ``(i, j)`` is ``x`` sampled at
  ``(j + flow[:, 0, i, j], i + flow[:, 1, i, j])``. To bring frame ``t + 1``
  onto frame ``t``, pass the flow from ``t`` to ``t + 1``.
* Pixel centres sit on integer coordinates (``align_corners=True`` in
  :func:`torch.nn.functional.grid_sample`), which is the convention of the
  published SPyNet and BasicVSR weights of mmagic and BasicSR; a flow of zero
  returns ``x`` up to float rounding.
* Sampling always runs in float32, also inside an autocast region, because
  half-precision sampling coordinates lose sub-pixel accuracy: at 1000 pixels
  float16 resolves only 0.5 pixel. The result has the dtype of ``x``.
"""
import torch
import torch.nn.functional as F
from torch import Tensor

_INTERPOLATIONS = ('bilinear', 'nearest', 'bicubic')
_PADDING_MODES = ('zeros', 'border', 'reflection')


def _check_inputs(x: Tensor, flow: Tensor, interpolation: str,
                  padding_mode: str) -> None:
    if x.dim() != 4:
        raise ValueError(f'expected x of shape (N, C, H, W), got shape '
                         f'{tuple(x.shape)}')
    expected = (x.shape[0], 2, x.shape[2], x.shape[3])
    if tuple(flow.shape) != expected:
        raise ValueError(
            f'expected flow of shape {expected} (N, 2, H, W) to match x of '
            f'shape {tuple(x.shape)}, got {tuple(flow.shape)}; flows with the '
            'two channels last must be permuted with flow.permute(0, 3, 1, 2)')
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f'expected interpolation in {_INTERPOLATIONS}, got '
                         f'{interpolation!r}')
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f'expected padding_mode in {_PADDING_MODES}, got '
                         f'{padding_mode!r}')


def flow_warp(x: Tensor,
              flow: Tensor,
              interpolation: str = 'bilinear',
              padding_mode: str = 'zeros') -> Tensor:
    """Warp ``x`` backward by ``flow`` (conventions in the module docstring).

    Args:
        x: Images or features, shape ``(N, C, H, W)``.
        flow: Optical flow in pixels, shape ``(N, 2, H, W)``, channel 0
            horizontal and channel 1 vertical.
        interpolation: ``'bilinear'``, ``'nearest'`` or ``'bicubic'``.
        padding_mode: Value of samples that fall outside ``x``: ``'zeros'``,
            ``'border'`` (nearest edge pixel) or ``'reflection'``.

    Returns:
        The warped tensor, shape and dtype of ``x``.

    Raises:
        ValueError: A shape does not match or an option is unknown.
    """
    _check_inputs(x, flow, interpolation, padding_mode)
    n, _, h, w = x.shape

    with torch.autocast(device_type=x.device.type, enabled=False):
        flow32 = flow.float()
        ys, xs = torch.meshgrid(
            torch.arange(h, device=x.device, dtype=torch.float32),
            torch.arange(w, device=x.device, dtype=torch.float32),
            indexing='ij')
        sample_x = xs.unsqueeze(0) + flow32[:, 0]
        sample_y = ys.unsqueeze(0) + flow32[:, 1]

        # grid_sample reads coordinates in [-1, 1]; with align_corners=True
        # -1 and 1 are the centres of the first and last pixel.
        grid_x = 2.0 * sample_x / max(w - 1, 1) - 1.0
        grid_y = 2.0 * sample_y / max(h - 1, 1) - 1.0
        grid = torch.stack((grid_x, grid_y), dim=3)
        warped = F.grid_sample(
            x.float(),
            grid,
            mode=interpolation,
            padding_mode=padding_mode,
            align_corners=True)
    return warped.to(x.dtype).reshape(n, -1, h, w)
