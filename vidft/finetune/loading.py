"""Load pretrained weights into a model and report every adaptation."""
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from torch import Tensor, nn
from torch.nn.parallel import DataParallel, DistributedDataParallel

from .checkpoint_io import load_state_dict_file
from .keys import (StateDict, apply_key_map, compile_regex, drop_keys,
                   rename_keys, suggest_prefix_fix)
from .report import LoadReport, LoggerLike, format_keys, with_resolved_path
from .sources import resolve_weights


class CheckpointMismatchError(ValueError):
    """A checkpoint whose weights do not fit the model: no key matches, or
    a strict load finds missing or unexpected keys or other shapes. For a
    LoRA model, also a checkpoint without the base reference of a LoRA run
    or with one for other base weights."""


# Model and checkpoint keys shown when no key matches.
NUM_EXAMPLE_KEYS = 5

# Buffers that are left out of the missing list: BatchNorm's batch counter is
# only read when momentum=None and older checkpoints do not store it.
IGNORED_MISSING_SUFFIXES = ('num_batches_tracked',)


def load_pretrained(model: nn.Module,
                    source: Union[str, Dict[str, Tensor]],
                    *,
                    strip_prefix: Sequence[str] = ('module.',),
                    add_prefix: str = '',
                    rename: Sequence[Tuple[str, str]] = (),
                    drop: Sequence[str] = (),
                    key_map: Optional[Callable[[StateDict], StateDict]] = None,
                    inflate: bool = False,
                    strict: bool = False,
                    head_keys: Sequence[str] = (),
                    trust: bool = False,
                    logger: LoggerLike = None) -> LoadReport:
    """Copy pretrained weights into ``model`` and log what changed.

    Checkpoint keys go through these steps in order: ``key_map``, ``drop``
    (regexes searched in the key as it then is), ``strip_prefix``,
    ``rename`` (``(pattern, replacement)`` regexes applied in order with
    :func:`re.sub`) and ``add_prefix``.

    A checkpoint tensor whose shape differs from the model's is handled as
    follows:

    * a classifier head keeps the model's own initialisation and is listed in
      ``reinitialized``. A head is a key matched by a ``head_keys`` regex, or
      the weight or bias of the model's last Linear or Conv layer when only
      its output size differs;
    * with ``inflate=True``, a 4D conv weight loaded into a 5D one is
      repeated over the temporal size T and divided by T, so that a clip of
      identical frames gives the 2D response. It is listed in ``inflated``;
    * any other difference raises :class:`ValueError` naming each key with
      both shapes.

    Args:
        model: The module to load into, or a wrapper (DDP) around it.
            Parameters keep their ``requires_grad`` flags.
        source: A state dict, a local file, ``torchvision://...`` or
            ``timm://...`` (see :func:`vidft.finetune.resolve_weights`).
        strip_prefix: Prefixes removed from checkpoint keys, each at most
            once, in order.
        add_prefix: Prefix put in front of every checkpoint key, for example
            ``'backbone.'`` to load a bare backbone into a full model.
        rename: Regex rename rules applied in order.
        drop: Regexes of checkpoint keys to leave out.
        key_map: A converter from another framework's key layout, called
            with the state dict first.
        inflate: Inflate 2D conv weights into 3D ones.
        strict: Raise when model keys stay missing or checkpoint keys are
            unexpected. Re-initialised heads are allowed.
        head_keys: Regexes (re.search on model keys) of head keys that may be
            re-initialised on a shape mismatch.
        trust: Read a PyTorch file with ``weights_only=False``; see
            :func:`vidft.finetune.load_state_dict_file`.
        logger: Where the report is logged; mmengine's current logger when
            None.

    Returns:
        The :class:`LoadReport`, already logged.

    Raises:
        ValueError: No checkpoint tensor matches a model key, a shape
            differs outside a head, or ``strict`` finds missing or unexpected
            keys.
    """
    if isinstance(model, (DataParallel, DistributedDataParallel)):
        model = model.module

    # Read the checkpoint.
    if isinstance(source, str):
        path = resolve_weights(source)
        state_dict = load_state_dict_file(path, trust=trust, logger=logger)
        report = LoadReport(source=with_resolved_path(source, path))
    elif isinstance(source, dict):
        not_tensors = [k for k, v in source.items()
                       if not isinstance(v, Tensor)]
        if not_tensors:
            raise TypeError('expected a state dict of tensors, got other '
                            f'values for: {format_keys(not_tensors)}')
        state_dict = dict(source)
        report = LoadReport(source='<state dict>')
    else:
        raise TypeError(f'expected a weight source name or a state dict, '
                        f'got {type(source).__name__}')

    # Bring checkpoint keys to the model's names.
    stored_key_of: Dict[str, str] = {}
    if key_map is not None:
        state_dict, key_map_renames = apply_key_map(state_dict, key_map)
        stored_key_of = {new: old for old, new in key_map_renames.items()}
    state_dict, report.dropped = drop_keys(state_dict, drop)
    renames = rename_keys(list(state_dict), strip_prefix=strip_prefix,
                          rename=rename, add_prefix=add_prefix)
    for key, new_key in renames.items():
        stored_key = stored_key_of.get(key, key)
        if stored_key != new_key:
            report.renamed[stored_key] = new_key
    state_dict = {renames[key]: value for key, value in state_dict.items()}

    # Decide, key by key, what to copy.
    model_state = model.state_dict()
    to_load = _match_tensors(model, model_state, state_dict, report,
                             inflate=inflate, head_keys=head_keys)
    _record_missing_and_check(report, model_state, state_dict,
                              strict=strict)

    model.load_state_dict(to_load, strict=False)
    report.loaded_fraction = _loaded_fraction(model, to_load)
    report.log(logger)
    return report


def _match_tensors(model: nn.Module, model_state: StateDict,
                   state_dict: StateDict, report: LoadReport, *,
                   inflate: bool, head_keys: Sequence[str]) -> StateDict:
    head = _head_key_matcher(model, head_keys)
    to_load: StateDict = {}
    mismatches: List[str] = []
    for key, value in state_dict.items():
        if key not in model_state:
            report.unexpected.append(key)
            continue
        target = model_state[key]
        if value.shape == target.shape:
            to_load[key] = value
            report.loaded.append(key)
        elif inflate and _can_inflate(value, target):
            to_load[key] = inflate_weight(value, target.shape[2])
            report.inflated.append(key)
        elif head(key, value, target):
            report.reinitialized.append(key)
        else:
            hint = (' (4D into 5D: pass inflate=True to inflate it)'
                    if value.dim() == 4 and target.dim() == 5 else '')
            mismatches.append(f'{key}: checkpoint {tuple(value.shape)}, '
                              f'model {tuple(target.shape)}{hint}')

    if mismatches:
        raise CheckpointMismatchError(
            f'{len(mismatches)} checkpoint tensors do not fit the model: '
            + '; '.join(mismatches) + '. Drop these keys with drop=, rename '
            'them, or list a classifier head in head_keys= to re-initialise '
            'it.')
    return to_load


def _head_key_matcher(model: nn.Module, head_keys: Sequence[str]
                      ) -> Callable[[str, Tensor, Tensor], bool]:
    if isinstance(head_keys, str):
        head_keys = (head_keys,)
    patterns = [compile_regex(p, 'head_keys') for p in head_keys]
    last_layer = None
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)):
            last_layer = name
    last_keys = {f'{last_layer}.weight', f'{last_layer}.bias'} \
        if last_layer is not None else set()

    def is_head(key: str, value: Tensor, target: Tensor) -> bool:
        if any(p.search(key) for p in patterns):
            return True
        # The last layer counts as a head only when its output size changed.
        return (key in last_keys and value.dim() == target.dim()
                and value.shape[1:] == target.shape[1:])
    return is_head


def _can_inflate(value: Tensor, target: Tensor) -> bool:
    return (value.dim() == 4 and target.dim() == 5
            and value.shape[:2] == target.shape[:2]
            and value.shape[2:] == target.shape[3:])


def inflate_weight(weight: Tensor, time_size: int) -> Tensor:
    """Repeat a (O, I, H, W) conv weight over T and divide by T.

    The result has shape (O, I, T, H, W). On a clip of T identical frames it
    gives the response of the 2D weight on one frame.
    """
    if weight.dim() != 4:
        raise ValueError(f'expected a 4D conv weight, got shape '
                         f'{tuple(weight.shape)}')
    if time_size < 1:
        raise ValueError(f'expected a temporal size >= 1, got {time_size}')
    repeated = weight.unsqueeze(2).repeat(1, 1, time_size, 1, 1)
    return repeated / time_size


def _record_missing_and_check(report: LoadReport, model_state: StateDict,
                              state_dict: StateDict, *, strict: bool) -> None:
    provided = set(state_dict)
    reinitialized = set(report.reinitialized)
    report.missing = [
        key for key in model_state
        if key not in provided and key not in reinitialized
        and not key.endswith(IGNORED_MISSING_SUFFIXES)
    ]

    if not report.loaded and not report.inflated:
        model_keys = list(model_state)[:NUM_EXAMPLE_KEYS]
        ckpt_keys = list(state_dict)[:NUM_EXAMPLE_KEYS]
        hint = suggest_prefix_fix(list(state_dict), list(model_state))
        if any('.lora_A.' in key or '.lora_B.' in key for key in state_dict):
            hint = ('These are the LoRA weights of a parameter-efficient '
                    'run, without the base weights; merge them first with '
                    'vidft export --merge-lora CONFIG CHECKPOINT OUT.pth and '
                    'load OUT.pth')
        raise CheckpointMismatchError(
            f'no checkpoint tensor from {report.source} matches a model key '
            f'({len(state_dict)} checkpoint keys after renaming, '
            f'{len(model_state)} model keys). Model keys: '
            f'{", ".join(model_keys)}; checkpoint keys: '
            f'{", ".join(ckpt_keys)}. '
            + (hint + '.' if hint else 'Fix the key names with strip_prefix=, '
               'add_prefix=, rename= or key_map=.'))

    if strict and (report.missing or report.unexpected):
        raise CheckpointMismatchError(
            f'strict loading from {report.source} failed: '
            f'{len(report.missing)} missing keys '
            f'({format_keys(report.missing)}) and '
            f'{len(report.unexpected)} unexpected keys '
            f'({format_keys(report.unexpected)}). Map or drop the keys, or '
            'pass strict=False.')


def _loaded_fraction(model: nn.Module, loaded: StateDict) -> float:
    total = 0
    from_checkpoint = 0
    for name, param in model.named_parameters():
        total += param.numel()
        if name in loaded:
            from_checkpoint += param.numel()
    return from_checkpoint / total if total else 0.0

