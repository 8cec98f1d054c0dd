"""Temporal Shift Module (TSM) for 2D backbones.

TSM (Lin et al., "TSM: Temporal Shift Module for Efficient Video
Understanding", ICCV 2019) lets a 2D network exchange information between
the segments of a clip at no cost in parameters. Before the first
convolution of each residual branch, a fraction of the channels is shifted
one step along time.
The shift has no parameters, so an ImageNet checkpoint loads unchanged and
the state-dict keys stay those of the 2D network.

The shift is inserted with a forward pre-hook on the first layer of the
residual branch, not by wrapping that layer, because a wrapper would rename
its parameters. Each affected block also gets a parameter-free
``temporal_shift`` child, so ``print(model)`` shows where shifts run.
"""
import logging
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)


def temporal_shift(x: Tensor, num_segments: int, shift_div: int = 8) -> Tensor:
    """Shift channels of ``x`` along time, padding with zeros.

    ``x`` is ``(N * num_segments, C, ...)`` with the segments of each clip
    next to each other. With ``fold = C // shift_div``:

    * channels ``[0, fold)`` of segment ``t`` take the values of segment
      ``t + 1``, a shift backward in time, and the last segment gets zeros;
    * channels ``[fold, 2 * fold)`` take the values of segment ``t - 1``, a
      shift forward, and the first segment gets zeros;
    * the other channels are unchanged.
    """
    if x.shape[0] % num_segments:
        raise ValueError(f'expected a batch of clips of {num_segments} '
                         f'segments, got {x.shape[0]} frames, which is not a '
                         'multiple. Every clip must have num_segments '
                         'segments.')
    clips = x.reshape(x.shape[0] // num_segments, num_segments,
                      *x.shape[1:])
    fold = x.shape[1] // shift_div
    out = torch.zeros_like(clips)
    out[:, :-1, :fold] = clips[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = clips[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = clips[:, :, 2 * fold:]
    return out.reshape(x.shape)


class TemporalShift(nn.Module):
    """A parameter-free module that applies :func:`temporal_shift`."""

    def __init__(self, num_segments: int, shift_div: int = 8) -> None:
        super().__init__()
        if not isinstance(num_segments, int) or num_segments < 1:
            raise ValueError(f'expected num_segments >= 1, got '
                             f'{num_segments!r}')
        if not isinstance(shift_div, int) or shift_div < 2:
            raise ValueError(f'expected shift_div >= 2 (2 shifts every '
                             f'channel), got {shift_div!r}')
        self.num_segments = num_segments
        self.shift_div = shift_div

    def forward(self, x: Tensor) -> Tensor:
        return temporal_shift(x, self.num_segments, self.shift_div)

    def extra_repr(self) -> str:
        return f'num_segments={self.num_segments}, shift_div={self.shift_div}'


class _ShiftInput:
    """Forward pre-hook that shifts the first positional input.

    A module-level class (not a closure) so that hooked models pickle and
    deep-copy, and the copy's hook uses the copy's shift module.
    """

    def __init__(self, shift: TemporalShift) -> None:
        self.shift = shift

    def __call__(self, module: nn.Module, args: Tuple) -> Tuple:
        return (self.shift(args[0]),) + tuple(args[1:])


# Residual blocks and the name of the first layer of their residual branch.
# The predicate returns whether the block has an identity shortcut, because
# TSM only shifts residual branches. Block classes are matched by name so
# that timm and torchvision need not both be installed.
RESIDUAL_BRANCH_ENTRIES: Dict[Tuple[str, str], Tuple[str, Callable]] = {
    # torchvision ResNet family and timm ResNet: before conv1.
    ('torchvision.models.resnet', 'BasicBlock'): ('conv1', lambda b: True),
    ('torchvision.models.resnet', 'Bottleneck'): ('conv1', lambda b: True),
    ('timm.models.resnet', 'BasicBlock'): ('conv1', lambda b: True),
    ('timm.models.resnet', 'Bottleneck'): ('conv1', lambda b: True),
    # Inverted residuals: before the expansion (or first) conv, and only
    # where the block adds its input back.
    ('torchvision.models.mobilenetv2', 'InvertedResidual'):
        ('conv', lambda b: b.use_res_connect),
    ('torchvision.models.mobilenetv3', 'InvertedResidual'):
        ('block', lambda b: b.use_res_connect),
    ('torchvision.models.efficientnet', 'MBConv'):
        ('block', lambda b: b.use_res_connect),
    ('torchvision.models.efficientnet', 'FusedMBConv'):
        ('block', lambda b: b.use_res_connect),
    ('timm.models._efficientnet_blocks', 'InvertedResidual'):
        ('conv_pw', lambda b: b.has_skip),
    ('timm.models._efficientnet_blocks', 'DepthwiseSeparableConv'):
        ('conv_dw', lambda b: b.has_skip),
    ('timm.models._efficientnet_blocks', 'EdgeResidual'):
        ('conv_exp', lambda b: b.has_skip),
}


def residual_branch_entry(block: nn.Module) -> Optional[str]:
    """Name the first layer of ``block``'s residual branch, where TSM shifts.

    None when ``block`` is not a supported residual block or has no
    identity shortcut.
    """
    cls = type(block)
    entry = RESIDUAL_BRANCH_ENTRIES.get((cls.__module__, cls.__name__))
    if entry is None:
        return None
    first_layer_name, has_shortcut = entry
    return first_layer_name if has_shortcut(block) else None


def insert_temporal_shift(model: nn.Module, num_segments: int,
                          shift_div: int = 8) -> List[str]:
    """Insert a temporal shift into every residual branch of ``model``.

    Supported blocks are listed in :data:`RESIDUAL_BRANCH_ENTRIES`: ResNet
    blocks of torchvision and timm (shift before ``conv1``), inverted
    residuals of torchvision's MobileNet v2/v3 and EfficientNet and timm's
    EfficientNet family (shift before the expansion conv, only in blocks
    with an identity shortcut). Works on a bare network and on a backbone
    wrapper around one. No parameter is added and no key changes.

    Returns:
        The names of the blocks that got a shift.

    Raises:
        ValueError: ``model`` has no supported residual block, or already
            has temporal shifts.
    """
    shift_template = TemporalShift(num_segments, shift_div)  # checks args
    if any(isinstance(m, TemporalShift) for m in model.modules()):
        raise ValueError('the model already has temporal shifts. Insert '
                         'them once.')

    shifted = []
    for name, block in list(model.named_modules()):
        first_layer_name = residual_branch_entry(block)
        if first_layer_name is None:
            continue
        shift = TemporalShift(shift_template.num_segments,
                              shift_template.shift_div)
        block.temporal_shift = shift
        getattr(block, first_layer_name).register_forward_pre_hook(
            _ShiftInput(shift))
        shifted.append(name)

    if not shifted:
        raise ValueError(
            f'found no residual block to shift in {type(model).__name__}. '
            'Supported blocks: '
            + ', '.join(f'{m}.{c}' for m, c in RESIDUAL_BRANCH_ENTRIES))
    logger.info('Inserted temporal shifts (num_segments=%d, shift_div=%d) '
                'into %d residual blocks', num_segments, shift_div,
                len(shifted))
    return shifted
