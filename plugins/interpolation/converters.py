"""Loading of interpolation weights: vidft checkpoints and RIFE v4.6 ``flownet.pkl``.

The public RIFE v4.6 flow network, released as ``train_log/flownet.pkl``
(often with the ``module.`` prefix of DistributedDataParallel), names its
tensors::

    block{i}.conv0.{j}.0.weight / .bias     two stride-2 convolutions
    block{i}.convblock.{k}.conv.weight / .bias, block{i}.convblock.{k}.beta
    block{i}.lastconv.0.weight / .bias      transposed convolution, 24 channels

:func:`convert_rife_v4_keys` maps them onto :class:`~.models.RIFE` with
``refine_channels=None`` and ``timestep_prior=False``
(``flow_net.blocks.{i}.stem.{j}.conv``, ``.body.{k}.conv``,
``.body.{k}.scale``, ``.head``). The distillation teacher (``block_tea.``),
used only in training, has no counterpart; its keys are dropped and listed
in the load report.

The layout was read from two sources, because the v4.6 code ships with the
weights and not in the repository. The first is ``train_log/IFNet_HDv3.py``
of hzwer/Practical-RIFE at commit a1cffee, a later release with the same
block names plus a feature encoder and a fifth block. The second is a
third-party copy of the v4.6 ``IFNet``: four blocks of widths 192, 128, 96
and 64 that read 7 and 12 input channels.

NOTE: the map is tested against a state dict built from that layout, not
against a downloaded ``flownet.pkl``, since nothing is downloaded here.
"""
import logging
import re
from typing import Dict, List, Optional, Tuple, Union

from torch import Tensor, nn

from vidft.finetune import LoadReport, load_pretrained

_RIFE_V4_RENAMES: List[Tuple[str, str]] = [
    (r'^block(\d+)\.conv0\.(\d+)\.0\.(weight|bias)$', r'flow_net.blocks.\1.stem.\2.conv.\3'),
    (r'^block(\d+)\.convblock\.(\d+)\.conv\.(weight|bias)$', r'flow_net.blocks.\1.body.\2.conv.\3'),
    (r'^block(\d+)\.convblock\.(\d+)\.beta$', r'flow_net.blocks.\1.body.\2.scale'),
    (r'^block(\d+)\.lastconv\.0\.(weight|bias)$', r'flow_net.blocks.\1.head.\2'),
]

# Layouts of other RIFE releases, recognised by a key only they have.
_UNSUPPORTED_LAYOUTS: List[Tuple[str, str]] = [
    (r'^block\d+\.convblock\.\d+\.0\.weight$',
     'plain convolution blocks without the learned scale (RIFE v4.0 to v4.5)'),
    (r'^encode\.', 'a feature encoder (Head) in front of the blocks (RIFE v4.7 and later)'),
    (r'^block\d+\.conv1\.', 'separate flow and mask heads (RIFE v3)'),
]


#: Regexes of RIFE checkpoint keys without a counterpart in vidft's RIFE.
RIFE_DROPPED_KEYS = (r'^block_tea\.',)


def _strip_module_prefix(key: str) -> str:
    return key[len('module.'):] if key.startswith('module.') else key


def convert_rife_v4_keys(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Rename the tensors of a RIFE v4.6 ``flownet.pkl`` to vidft's RIFE names.

    Keys that match no RIFE pattern (vidft's own names, the teacher block)
    pass through unchanged, so one loader serves both kinds of checkpoint.

    Raises:
        ValueError: The checkpoint has the layout of another RIFE release,
            whose tensors would not fit.
    """
    converted: Dict[str, Tensor] = {}
    for key, value in state_dict.items():
        name = _strip_module_prefix(key)
        for pattern, description in _UNSUPPORTED_LAYOUTS:
            if re.search(pattern, name):
                raise ValueError(
                    f'expected a RIFE v4.6 checkpoint, got one with {description} '
                    f'(key {key!r}); convert that release with its own key map or '
                    'use the v4.6 flownet.pkl')
        for pattern, replacement in _RIFE_V4_RENAMES:
            if re.match(pattern, name):
                name = re.sub(pattern, replacement, name)
                break
        converted[name] = value
    return converted


def load_interpolation_weights(model: nn.Module,
                               source: Union[str, Dict[str, Tensor]],
                               strict: bool = False,
                               logger: Optional[Union[logging.Logger, str]] = None) -> LoadReport:
    """Load a vidft checkpoint or a RIFE v4.6 ``flownet.pkl`` into ``model``.

    Renames go through :func:`convert_rife_v4_keys`; every rename, dropped,
    missing and unexpected key is in the returned report of
    :func:`vidft.finetune.load_pretrained`, which also logs it. ``strict``
    raises on missing or unexpected keys, so keep it False when the model
    has parts the checkpoint lacks (the refinement U-Net for RIFE weights).
    """
    path = source if isinstance(source, str) else None
    if path is not None and not path.endswith('.safetensors'):
        source = read_pickled_state_dict(path)
    if getattr(model, 'flow_prior', None) is not None and isinstance(source, dict):
        release_keys = [key for key in source
                        if key.removeprefix('module.').startswith('block')]
        if release_keys:
            raise ValueError(
                f'{path or "the state dict"} has RIFE v4 keys ({release_keys[0]!r}, ...), '
                'whose first block estimates flows from the frames alone, but the '
                'model starts from a flow prior; build interpolation.RIFE without '
                'flow_prior to load them')
    report = load_pretrained(model, source, strip_prefix=('module.',),
                             key_map=convert_rife_v4_keys, drop=RIFE_DROPPED_KEYS,
                             strict=strict, logger=logger)
    if path is not None:
        report.source = path
    return report


def read_pickled_state_dict(path: str) -> Dict[str, Tensor]:
    """Read the model tensors of a training checkpoint or a plain ``torch.save`` file.

    Checkpoints written by vidft's runner also pickle the optimizer and the
    message hub, which ``torch.load(weights_only=True)`` rejects, so they go
    through :func:`vidft.engine.checkpoint.safe_load` and its allowlist.
    """
    from vidft.engine.checkpoint import safe_load

    checkpoint = safe_load(path)
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        return checkpoint['state_dict']
    if isinstance(checkpoint, dict) and all(isinstance(v, Tensor) for v in checkpoint.values()):
        return checkpoint
    raise ValueError(f'expected a state dict or a checkpoint with a state_dict in {path!r}, '
                     f'got a {type(checkpoint).__name__}; save the model tensors with '
                     'torch.save(model.state_dict(), path)')
