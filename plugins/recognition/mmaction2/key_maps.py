"""Key map from mmaction2 recognizer checkpoints to vidft recognizers.

mmaction2 1.x builds its ResNets from ``ConvModule`` (a conv and its norm in
one module) and names its classifier ``fc_cls``; vidft's backbones keep
torchvision's names. The rules below cover the ResNet families TSN
(``ResNet``), TSM (``ResNetTSM``, whose shifted convs are wrapped in a
``TemporalShift`` module with the conv as ``net``), I3D (``ResNet3d``) and
SlowOnly (``ResNet3dSlowOnly``):

=====================================  ======================================
mmaction2 key                          vidft key
=====================================  ======================================
``backbone.conv1.conv.*``              ``<backbone>conv1.*``
``backbone.conv1.bn.*``                ``<backbone>bn1.*``
``backbone.layerI.J.convK.conv.*``     ``<backbone>layerI.J.convK.*``
``backbone.layerI.J.convK.conv.net.*``  ``<backbone>layerI.J.convK.*`` (TSM)
``backbone.layerI.J.convK.bn.*``       ``<backbone>layerI.J.bnK.*``
``backbone.layerI.J.downsample.conv.*``  ``<backbone>layerI.J.downsample.0.*``
``backbone.layerI.J.downsample.bn.*``  ``<backbone>layerI.J.downsample.1.*``
``cls_head.fc_cls.*``                  ``cls_head.fc.*``
=====================================  ======================================

``<backbone>`` is ``backbone.model.`` for vidft's ``TimmBackbone`` and
``TorchvisionBackbone`` (2D ResNets, TSN and TSM) and ``backbone.`` for
``recognition.ResNet3d`` (I3D, SlowOnly). Other keys (non-local blocks,
SlowFast laterals, necks, auxiliary heads) pass through unchanged, so the
load report lists them as unexpected.
"""
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn

from vidft.finetune import LoadReport, load_pretrained

StateDict = Dict[str, Tensor]

# Applied in order to a backbone key after 'backbone.' is removed.
BACKBONE_RULES: List[Tuple['re.Pattern[str]', str]] = [
    (re.compile(r'\.conv\.net\.'), '.conv.'),
    (re.compile(r'^conv1\.conv\.'), 'conv1.'),
    (re.compile(r'^conv1\.bn\.'), 'bn1.'),
    (re.compile(r'\.conv(\d)\.conv\.'), r'.conv\1.'),
    (re.compile(r'\.conv(\d)\.bn\.'), r'.bn\1.'),
    (re.compile(r'\.downsample\.conv\.'), '.downsample.0.'),
    (re.compile(r'\.downsample\.bn\.'), '.downsample.1.'),
]

MMACTION2_HEAD_PREFIX = 'cls_head.fc_cls.'
VIDFT_HEAD_PREFIX = 'cls_head.fc.'

# Head keys that load_mmaction2_checkpoint re-initialises when the class
# count of the checkpoint differs from the model's.
HEAD_KEYS = (r'^cls_head\.fc\.',)


def convert_mmaction2_state_dict(state_dict: StateDict,
                                 backbone_prefix: str = 'backbone.'
                                 ) -> StateDict:
    """Rename the keys of an mmaction2 recognizer state dict to vidft's.

    Args:
        state_dict: The ``state_dict`` of an mmaction2 checkpoint.
        backbone_prefix: Prefix of the backbone parameters in the vidft
            model: ``'backbone.model.'`` for a ``TimmBackbone`` or
            ``TorchvisionBackbone``, ``'backbone.'`` for
            ``recognition.ResNet3d``, ``''`` for a bare backbone.

    Returns:
        A new dict holding the same tensor objects under vidft's names.
    """
    converted: StateDict = {}
    for key, value in state_dict.items():
        new_key = convert_mmaction2_key(key, backbone_prefix)
        if new_key in converted:
            raise ValueError(f'two mmaction2 keys map to {new_key!r}; the '
                             'checkpoint mixes layouts (for example shifted '
                             'and plain TSM convs), so convert it by hand')
        converted[new_key] = value
    return converted


def convert_mmaction2_key(key: str, backbone_prefix: str = 'backbone.'
                          ) -> str:
    """Return vidft's name for one mmaction2 key (unknown keys unchanged)."""
    if key.startswith('backbone.'):
        rest = key[len('backbone.'):]
        for pattern, replacement in BACKBONE_RULES:
            rest = pattern.sub(replacement, rest)
        return backbone_prefix + rest
    if key.startswith(MMACTION2_HEAD_PREFIX):
        return VIDFT_HEAD_PREFIX + key[len(MMACTION2_HEAD_PREFIX):]
    return key


def backbone_prefix_of(model: nn.Module) -> str:
    """Return where ``model`` keeps the ResNet parameters mmaction2 names.

    A recognizer keeps them under ``backbone.`` and, when its backbone wraps
    a timm or torchvision network in ``.model``, under ``backbone.model.``.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise ValueError(
            f'expected a recognizer with a backbone, got '
            f'{type(model).__name__}; load mmaction2 checkpoints into '
            'recognition.Recognizer2D or recognition.Recognizer3D')
    if isinstance(getattr(backbone, 'model', None), nn.Module):
        return 'backbone.model.'
    return 'backbone.'


def mmaction2_key_map(model: Optional[nn.Module] = None
                      ) -> Callable[[StateDict], StateDict]:
    """Return a ``key_map`` for :func:`vidft.finetune.load_pretrained`.

    With ``model`` the backbone prefix is taken from it (see
    :func:`backbone_prefix_of`); without, ``'backbone.'`` is used.
    """
    prefix = 'backbone.' if model is None else backbone_prefix_of(model)

    def key_map(state_dict: StateDict) -> StateDict:
        return convert_mmaction2_state_dict(state_dict, prefix)
    return key_map


def load_mmaction2_checkpoint(model: nn.Module,
                              source: Union[str, StateDict], *,
                              strict: bool = False,
                              drop: Sequence[str] = (),
                              trust: bool = False,
                              logger: Optional[object] = None) -> LoadReport:
    """Load an mmaction2 recognizer checkpoint into a vidft recognizer.

    The checkpoint keys go through :func:`mmaction2_key_map`. A classifier
    with another class count is re-initialised and reported; any other
    shape mismatch raises.

    Args:
        model: ``recognition.Recognizer2D`` (TSN, TSM) or
            ``recognition.Recognizer3D`` (I3D, SlowOnly) built like the
            mmaction2 model (see ``docs/mmaction2.md``).
        source: An mmaction2 ``.pth`` file (``{'state_dict': ...}``), a
            ``.safetensors`` file or a state dict.
        strict: Raise when keys stay missing or unexpected.
        drop: Regexes of checkpoint keys to leave out (searched in the
            converted key).
        trust: Unpickle the file with ``weights_only=False``. Only for
            files from a trusted source whose ``meta`` contains objects other
            than tensors and containers.
        logger: Where the report is logged; mmengine's current logger when
            None.

    Returns:
        The logged :class:`~vidft.finetune.LoadReport`.
    """
    return load_pretrained(model, source, key_map=mmaction2_key_map(model),
                           drop=drop, strict=strict, head_keys=HEAD_KEYS,
                           trust=trust, logger=logger)
