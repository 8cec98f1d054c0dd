"""Load BasicVSR and SPyNet weights saved by vidft, mmagic or BasicSR.

The key names of the other frameworks were read from their sources:

* mmagic, ``mmagic/models/editors/basicvsr/basicvsr_net.py`` (``BasicVSRNet``
  inside an editor, hence the ``generator.`` prefix): SPyNet levels
  ``spynet.basic_module.<level>.basic_module.<conv>.conv.*`` (``ConvModule``,
  conv 0-4), branches ``backward_resblocks`` / ``forward_resblocks`` with
  ``main.0`` (input conv) and ``main.2.<block>.conv1|conv2``, upsampling
  ``upsample1.upsample_conv`` and ``upsample2.upsample_conv``
  (``PixelShufflePack``), then ``fusion``, ``conv_hr``, ``conv_last``. A
  standalone SPyNet file has the SPyNet keys without ``generator.spynet.``.
* BasicSR, ``basicsr/archs/basicvsr_arch.py`` and ``spynet_arch.py``, weights
  under ``params`` (or ``params_ema``). SPyNet levels are
  ``spynet.basic_module.<level>.basic_module.<index>.*``, with the
  convolutions at indices 0, 2, 4, 6, 8 of an ``nn.Sequential`` that has
  ReLUs between them. Then come branches ``backward_trunk`` /
  ``forward_trunk`` with ``main.0`` and ``main.2.<block>.conv1|conv2``,
  upsampling ``upconv1`` and ``upconv2`` (each followed by a pixel shuffle),
  then ``fusion``, ``conv_hr``, ``conv_last``.

Both store SPyNet's normalisation constants ``mean`` and ``std``, which vidft
keeps out of its state dict; :func:`load_vsr_checkpoint` drops them and the
load report lists them.
"""
import logging
import os.path as osp
import re
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

logger = logging.getLogger(__name__)

Rule = Tuple[str, Union[str, Callable[[re.Match], str]]]

_BRANCH_DIRECTIONS = r'(backward|forward)'


def _basicsr_spynet_conv(match: re.Match) -> str:
    level, index, param = match.groups()
    if int(index) % 2:
        raise ValueError(f'BasicSR SPyNet key {match.string!r} names a ReLU '
                         '(odd index), which has no parameters')
    return f'spynet.levels.{level}.convs.{int(index) // 2}.{param}'


#: mmagic key (after ``generator.`` is removed) -> vidft key.
MMAGIC_RULES: Tuple[Rule, ...] = (
    (r'^spynet\.basic_module\.(\d+)\.basic_module\.(\d+)\.conv\.(weight|bias)$',
     r'spynet.levels.\1.convs.\2.\3'),
    (rf'^{_BRANCH_DIRECTIONS}_resblocks\.main\.0\.(weight|bias)$',
     r'\1_branch.input_conv.\2'),
    (rf'^{_BRANCH_DIRECTIONS}_resblocks\.main\.2\.(\d+)\.(conv[12])\.'
     r'(weight|bias)$', r'\1_branch.blocks.\2.\3.\4'),
    (r'^upsample1\.upsample_conv\.(weight|bias)$', r'upsample.0.conv.\1'),
    (r'^upsample2\.upsample_conv\.(weight|bias)$', r'upsample.1.conv.\1'),
    (r'^(fusion|conv_hr|conv_last)\.(weight|bias)$', r'\1.\2'),
)

#: BasicSR key -> vidft key.
BASICSR_RULES: Tuple[Rule, ...] = (
    (r'^spynet\.basic_module\.(\d+)\.basic_module\.(\d+)\.(weight|bias)$',
     _basicsr_spynet_conv),
    (rf'^{_BRANCH_DIRECTIONS}_trunk\.main\.0\.(weight|bias)$',
     r'\1_branch.input_conv.\2'),
    (rf'^{_BRANCH_DIRECTIONS}_trunk\.main\.2\.(\d+)\.(conv[12])\.'
     r'(weight|bias)$', r'\1_branch.blocks.\2.\3.\4'),
    (r'^upconv1\.(weight|bias)$', r'upsample.0.conv.\1'),
    (r'^upconv2\.(weight|bias)$', r'upsample.1.conv.\1'),
    (r'^(fusion|conv_hr|conv_last)\.(weight|bias)$', r'\1.\2'),
)

#: Regex of checkpoint keys with no vidft counterpart (SPyNet's ``mean`` and
#: ``std``), passed to ``load_pretrained(drop=...)`` so the report lists them.
CONSTANT_KEYS = r'(^|\.)(mean|std)$'

FORMATS = ('vidft', 'mmagic', 'basicsr')
_WRAPPER_KEYS = ('params_ema', 'params', 'state_dict', 'model')


def detect_format(keys: Sequence[str]) -> str:
    """Return ``'mmagic'``, ``'basicsr'`` or ``'vidft'`` from the key
    names of a BasicVSR or SPyNet state dict."""
    for key in keys:
        if key.startswith('generator.') or re.search(
                r'_resblocks\.main\.|\.upsample_conv\.|basic_module\.\d+\.'
                r'basic_module\.\d+\.conv\.', key):
            return 'mmagic'
    for key in keys:
        if re.search(r'_trunk\.main\.|^upconv[12]\.|basic_module\.\d+\.'
                     r'basic_module\.\d+\.(weight|bias)$', key):
            return 'basicsr'
    return 'vidft'


def _standalone_spynet(keys: Sequence[str]) -> bool:
    return bool(keys) and all(
        k.startswith(('basic_module.', 'levels.', 'mean', 'std'))
        for k in keys)


def convert_state_dict(state_dict: Dict[str, Tensor],
                       fmt: str = 'auto'
                       ) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """Rename the keys of a BasicVSR or SPyNet state dict to vidft's.

    The result is keyed as :class:`vidft_vsr.models.BasicVSR` (a standalone
    SPyNet file gets the ``spynet.`` prefix). Keys that match no rule,
    SPyNet's ``mean`` and ``std`` among them, keep their name apart from
    those two prefix changes, so the loader drops or reports them.

    Returns:
        The converted state dict and the renames (old key -> new key).
    """
    if fmt == 'auto':
        fmt = detect_format(list(state_dict))
    if fmt not in FORMATS:
        raise ValueError(f"expected fmt in {FORMATS} or 'auto', got {fmt!r}")
    rules = dict(mmagic=MMAGIC_RULES, basicsr=BASICSR_RULES).get(fmt, ())
    add_spynet_prefix = _standalone_spynet(list(state_dict))

    converted: Dict[str, Tensor] = {}
    renamed: Dict[str, str] = {}
    for old_key, value in state_dict.items():
        key = old_key
        if fmt == 'mmagic' and key.startswith('generator.'):
            key = key[len('generator.'):]
        if add_spynet_prefix:
            key = f'spynet.{key}'
        for pattern, replacement in rules:
            key, count = re.subn(pattern, replacement, key)
            if count:
                break
        if key in converted:
            raise ValueError(f'two checkpoint keys map to {key!r}; the '
                             f'checkpoint is not a {fmt} BasicVSR/SPyNet')
        converted[key] = value
        if key != old_key:
            renamed[old_key] = key
    return converted, renamed


def make_key_map(fmt: str = 'auto', target_prefix: str = ''
                 ) -> Callable[[Dict[str, Tensor]], Dict[str, Tensor]]:
    """Return a ``key_map`` for :func:`vidft.finetune.load_pretrained`.

    It converts with :func:`convert_state_dict`, logs the number of renames
    at INFO, and for a target that is a part of BasicVSR (``target_prefix=
    'spynet.'`` for a :class:`SPyNet`) keeps only that part, without the
    prefix.
    """

    def key_map(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
        converted, renamed = convert_state_dict(state_dict, fmt)
        logger.info('renamed %d of %d checkpoint keys to vidft names',
                    len(renamed), len(state_dict))
        if not target_prefix:
            return converted
        kept = {k[len(target_prefix):]: v for k, v in converted.items()
                if k.startswith(target_prefix)}
        if len(kept) < len(converted):
            logger.info('kept the %d keys under %r for the target; left out '
                        '%d others', len(kept), target_prefix,
                        len(converted) - len(kept))
        return kept

    return key_map


def _load_pickle(path: str) -> object:
    try:
        from vidft.engine.checkpoint import safe_load
    except ImportError:  # the engine is optional for loading weights
        return torch.load(path, map_location='cpu', weights_only=True)
    return safe_load(path)


def read_checkpoint(path: str) -> Dict[str, Tensor]:
    """Read a ``.pth``/``.pt`` (tensors only, ``weights_only=True``) or
    ``.safetensors`` file and unwrap ``params_ema``, ``params``,
    ``state_dict`` or ``model``, in that order of preference."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} not found')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return load_file(path)
    checkpoint = _load_pickle(path)
    for key in _WRAPPER_KEYS:
        if isinstance(checkpoint, dict) and isinstance(
                checkpoint.get(key), dict):
            return checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise TypeError(f'expected a state dict in {path}, got '
                        f'{type(checkpoint).__name__}')
    return checkpoint


def load_vsr_checkpoint(model: nn.Module,
                        source: Union[str, Dict[str, Tensor]],
                        fmt: str = 'auto',
                        strict: bool = False,
                        logger: Optional[logging.Logger] = None):
    """Load BasicVSR or SPyNet weights of any supported format into
    ``model`` (a :class:`BasicVSR` or a :class:`SPyNet`).

    Returns the :class:`vidft.finetune.LoadReport` of
    :func:`vidft.finetune.load_pretrained`, which lists what matched.
    """
    from vidft.finetune import load_pretrained

    from .models.spynet import SPyNet

    state_dict = read_checkpoint(source) if isinstance(source, str) else source
    target_prefix = 'spynet.' if isinstance(model, SPyNet) else ''
    return load_pretrained(
        model,
        state_dict,
        key_map=make_key_map(fmt, target_prefix),
        drop=(CONSTANT_KEYS, ),
        strict=strict,
        logger=logger)
