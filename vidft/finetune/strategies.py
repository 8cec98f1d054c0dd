"""Named fine-tuning strategies as config rewrites.

:func:`apply_strategy` returns a copy of a config changed for one strategy.
It first undoes what another strategy would have written (a
:class:`~vidft.finetune.peft.PeftModel` wrapper, an ``UnfreezeHook``), so
the same base config gives every arm of a comparison:

========================  ==================================================
strategy                  what changes in the config
========================  ==================================================
``full``                  every ``frozen_stages`` in the model is set to -1;
                          all parameters train
``linear_probe``          model wrapped in ``PeftModel`` with
                          ``method='linear_probe'``: backbone frozen (its
                          BatchNorm layers in eval mode), head trained
``bitfit``                ``PeftModel`` with ``method='bitfit'``: only the
                          backbone's biases and the head train
``lora``                  ``PeftModel`` with ``method='lora'`` and the
                          ``peft`` options given, completed from
                          :data:`DEFAULT_LORA`; LoRA weights and head train;
                          ``lr_mult`` (default 1) multiplies the lr of the
                          LoRA weights through ``paramwise_cfg``, and
                          ``loraplus_lr_ratio`` (default 1) that of the
                          ``lora_B`` matrices once more (LoRA+)
``unfreeze``              ``frozen_stages=-1``, and an ``UnfreezeHook`` keeps
                          the backbone frozen for the first quarter of
                          training (``unfreeze_at``), then trains it with
                          ``lr_mult``; DDP gets ``find_unused_parameters``
``scratch``               no pretrained weights: ``pretrained``/``weights``
                          of every model component and ``key_map`` become
                          None, ``init_cfg`` entries of type ``Pretrained``
                          and ``load_from`` go; ``frozen_stages=-1``
========================  ==================================================

Only the model, ``custom_hooks``, ``load_from``, the DDP wrapper options and
(for ``lora`` with ``lr_mult`` or ``loraplus_lr_ratio``) the ``lora_`` and
``lora_B`` entries of ``custom_keys`` in the optimizer's ``paramwise_cfg``
change; data, schedule and optimizer stay as the config has them.
"""
import copy
import logging
import math
from typing import Any, Callable, Dict, List, Optional, Tuple

from mmengine.config import Config, ConfigDict

logger = logging.getLogger(__name__)

STRATEGIES = ('full', 'linear_probe', 'bitfit', 'lora', 'unfreeze',
              'scratch')

# LoRA options used when neither the call nor the config gives any.
DEFAULT_LORA: Dict[str, Any] = dict(
    method='lora', target_types=('Linear', 'Conv2d', 'Conv3d'), r=8,
    lora_alpha=16, lora_dropout=0.0)

# Substring of the names peft gives LoRA parameters (lora_A, lora_B,
# lora_embedding_A, ...), as a custom_keys entry of paramwise_cfg.
LORA_PARAM_KEY = 'lora_'

# Substring of the names of the B (up-projection) matrices of LoRA on
# Linear and convolution layers, which LoRA+ trains at a higher lr.
LORA_B_PARAM_KEY = 'lora_B'

# Share of the training length that 'unfreeze' keeps the backbone frozen.
UNFREEZE_FRACTION = 0.25

# Config keys that name pretrained weights of a model component.
WEIGHT_KEYS = ('pretrained', 'weights')


def apply_strategy(cfg: Config, name: str, **options: Any) -> Config:
    """Return a copy of ``cfg`` rewritten for the strategy ``name``.

    Args:
        cfg: A config with a ``model`` (plain or wrapped in ``PeftModel``).
        name: One of :data:`STRATEGIES`; see the module doc.
        options: For ``'lora'``: ``peft`` (dict of LoRA options, see
            :func:`vidft.finetune.apply_peft`), ``lr_mult`` (lr
            multiplier of the LoRA weights, default 1) and
            ``loraplus_lr_ratio`` (lr of the B matrices over that of the A
            matrices, default 1). For ``'lora'``, ``'bitfit'`` and
            ``'linear_probe'``: ``target`` (default ``'backbone'``). For
            ``'unfreeze'``: ``unfreeze_at`` (epochs or iterations, as the
            train loop counts; default a quarter of training), ``lr_mult``
            (1.0) and ``patterns`` (``('backbone',)``).

    Raises:
        ValueError: ``name`` is unknown, an option does not belong to the
            strategy, or the config lacks what the strategy changes.
    """
    if name not in STRATEGIES:
        raise ValueError(f'expected a strategy in {STRATEGIES}, got {name!r}')
    allowed = _STRATEGY_OPTIONS[name]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f'strategy {name!r} takes the options {allowed}, '
                         f'got {unknown}')
    if 'model' not in cfg:
        raise ValueError('expected a config with a model, got none')

    cfg = copy.deepcopy(cfg)
    if not isinstance(cfg, Config):
        cfg = Config(dict(cfg))
    previous_peft = _unwrap_peft_model(cfg)
    if previous_peft and previous_peft.get('method') == 'lora':
        _remove_lr_mult(cfg, LORA_PARAM_KEY)
        _remove_lr_mult(cfg, LORA_B_PARAM_KEY)
    _remove_unfreeze_hooks(cfg)

    rewrite = _REWRITES[name]
    rewrite(cfg, previous_peft=previous_peft, **options)
    logger.info('config rewritten for the %s strategy', name)
    return cfg


def _rewrite_full(cfg: Config, previous_peft: Optional[dict]) -> None:
    _set_key(cfg.model, 'frozen_stages', -1, only_if_present=True)


def _rewrite_probe(method: str) -> Callable[..., None]:
    def rewrite(cfg: Config, previous_peft: Optional[dict],
                target: str = 'backbone') -> None:
        _rewrite_full(cfg, previous_peft)
        _wrap_peft_model(cfg, dict(method=method, target=target))
    return rewrite


def _rewrite_lora(cfg: Config, previous_peft: Optional[dict],
                  peft: Optional[dict] = None,
                  target: Optional[str] = None,
                  lr_mult: float = 1.0,
                  loraplus_lr_ratio: float = 1.0) -> None:
    if peft is None:
        reuse = previous_peft and previous_peft.get('method') == 'lora'
        peft = previous_peft if reuse else DEFAULT_LORA
    peft = dict(peft)
    if peft.setdefault('method', 'lora') != 'lora':
        raise ValueError(f"expected peft options for method='lora', got "
                         f"method={peft['method']!r}")
    # Options not given come from DEFAULT_LORA; its target_types only when
    # no layers are named at all.
    for key, value in DEFAULT_LORA.items():
        if key == 'target_types' and 'target_modules' in peft:
            continue
        peft.setdefault(key, value)
    if target is not None:
        peft['target'] = target
    _rewrite_full(cfg, previous_peft)
    _wrap_peft_model(cfg, peft)
    if lr_mult != 1.0:
        _set_lr_mult(cfg, LORA_PARAM_KEY, lr_mult)
    if loraplus_lr_ratio != 1.0:
        # LoRA+ (arXiv 2402.12354). peft's own helper imports transformers,
        # so a custom key does it; 'lora_B' is longer than 'lora_' and wins.
        _check_positive('loraplus_lr_ratio', loraplus_lr_ratio)
        _set_lr_mult(cfg, LORA_B_PARAM_KEY, lr_mult * loraplus_lr_ratio)


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f'expected {name} to be a finite number > 0, got '
                         f'{value!r}')


def _set_lr_mult(cfg: Config, key: str, lr_mult: float) -> None:
    """Give parameters whose names contain ``key`` the lr multiplier
    ``lr_mult``, keeping the config's other ``custom_keys``."""
    _check_positive('lr_mult', lr_mult)
    wrapper = cfg.get('optim_wrapper')
    if not isinstance(wrapper, dict):
        raise ValueError('lr_mult needs the config to define optim_wrapper; '
                         'add one or leave lr_mult at 1')
    paramwise = dict(wrapper.get('paramwise_cfg') or {})
    custom_keys = dict(paramwise.get('custom_keys') or {})
    # mmengine applies the longest custom key contained in a parameter's
    # name, so a longer key such as 'backbone' overrides this one.
    longer = sorted(k for k in custom_keys if len(k) > len(key))
    if longer:
        logger.warning(
            'lr_mult=%s applies to parameters named *%s* only where none of '
            'the longer custom_keys %s also matches; mmengine uses the '
            'longest matching key', lr_mult, key, longer)
    custom_keys[key] = dict(custom_keys.get(key) or {}, lr_mult=lr_mult)
    paramwise['custom_keys'] = custom_keys
    wrapper['paramwise_cfg'] = paramwise


def _remove_lr_mult(cfg: Config, key: str) -> None:
    """Drop the ``custom_keys`` entry that :func:`_set_lr_mult` wrote."""
    wrapper = cfg.get('optim_wrapper')
    paramwise = wrapper.get('paramwise_cfg') if isinstance(
        wrapper, dict) else None
    custom_keys = paramwise.get('custom_keys') if isinstance(
        paramwise, dict) else None
    if isinstance(custom_keys, dict) and key in custom_keys:
        custom_keys = dict(custom_keys)
        del custom_keys[key]
        paramwise['custom_keys'] = custom_keys


def _rewrite_unfreeze(cfg: Config, previous_peft: Optional[dict],
                      unfreeze_at: Optional[int] = None,
                      lr_mult: float = 1.0,
                      patterns: Tuple[str, ...] = ('backbone',)) -> None:
    _rewrite_full(cfg, previous_peft)
    by_epoch, length = _train_length(cfg)
    if unfreeze_at is None:
        unfreeze_at = max(1, int(length * UNFREEZE_FRACTION))
    if unfreeze_at >= length:
        raise ValueError(f'expected unfreeze_at < the training length '
                         f'{length}, got {unfreeze_at}; the backbone would '
                         'never train')
    hooks = list(cfg.get('custom_hooks') or [])
    hooks.append(dict(type='UnfreezeHook', patterns=list(patterns),
                      unfreeze_at=unfreeze_at, by_epoch=by_epoch,
                      lr_mult=lr_mult))
    cfg.custom_hooks = hooks

    # UnfreezeHook changes which parameters get gradients under DDP.
    cfg.find_unused_parameters = True
    wrapper = cfg.get('model_wrapper_cfg')
    if isinstance(wrapper, dict):
        wrapper['find_unused_parameters'] = True


def _rewrite_scratch(cfg: Config, previous_peft: Optional[dict]) -> None:
    _rewrite_full(cfg, previous_peft)
    removed: List[str] = []
    _remove_weights(cfg.model, 'model', removed)
    if cfg.get('load_from'):
        removed.append(f'load_from={cfg.load_from!r}')
        cfg.load_from = None
    if removed:
        logger.info('scratch: removed pretrained weights %s',
                    ', '.join(removed))
    else:
        logger.warning('scratch: the config names no pretrained weights, so '
                       'the scratch arm equals the full arm')


_REWRITES: Dict[str, Callable[..., None]] = {
    'full': _rewrite_full,
    'linear_probe': _rewrite_probe('linear_probe'),
    'bitfit': _rewrite_probe('bitfit'),
    'lora': _rewrite_lora,
    'unfreeze': _rewrite_unfreeze,
    'scratch': _rewrite_scratch,
}

_STRATEGY_OPTIONS: Dict[str, Tuple[str, ...]] = {
    'full': (),
    'linear_probe': ('target',),
    'bitfit': ('target',),
    'lora': ('peft', 'target', 'lr_mult', 'loraplus_lr_ratio'),
    'unfreeze': ('unfreeze_at', 'lr_mult', 'patterns'),
    'scratch': (),
}


def _is_peft_model(model: Any) -> bool:
    kind = model.get('type') if isinstance(model, dict) else None
    return isinstance(kind, str) and kind.rsplit('.', 1)[-1] == 'PeftModel'


def _unwrap_peft_model(cfg: Config) -> Optional[dict]:
    """Replace a PeftModel config by its inner model; return its peft."""
    if not _is_peft_model(cfg.model):
        return None
    wrapper = cfg.model
    cfg.model = wrapper['model']
    return dict(wrapper.get('peft') or {})


def _wrap_peft_model(cfg: Config, peft: dict) -> None:
    cfg.model = ConfigDict(type='PeftModel', model=cfg.model,
                           peft=_to_plain(peft))


def _remove_unfreeze_hooks(cfg: Config) -> None:
    hooks = cfg.get('custom_hooks')
    if not hooks:
        return
    kept = [h for h in hooks if not (
        isinstance(h, dict) and str(h.get('type', '')).rsplit('.', 1)[-1]
        == 'UnfreezeHook')]
    if len(kept) != len(hooks):
        cfg.custom_hooks = kept


def _train_length(cfg: Config) -> Tuple[bool, int]:
    train_cfg = cfg.get('train_cfg') or {}
    if 'max_epochs' in train_cfg:
        return bool(train_cfg.get('by_epoch', True)), train_cfg['max_epochs']
    if 'max_iters' in train_cfg:
        return False, train_cfg['max_iters']
    raise ValueError('the unfreeze strategy needs train_cfg.max_epochs or '
                     'train_cfg.max_iters to place unfreeze_at; set one, or '
                     'pass unfreeze_at')


def _set_key(node: Any, key: str, value: Any, only_if_present: bool) -> None:
    """Set ``key`` in every dict below ``node`` that has it."""
    if isinstance(node, dict):
        if key in node or not only_if_present:
            node[key] = value
        for child in node.values():
            _set_key(child, key, value, only_if_present)
    elif isinstance(node, (list, tuple)):
        for child in node:
            _set_key(child, key, value, only_if_present)


def _remove_weights(node: Any, path: str, removed: List[str]) -> None:
    if isinstance(node, dict):
        for key in WEIGHT_KEYS:
            if isinstance(node.get(key), str):
                removed.append(f'{path}.{key}={node[key]!r}')
                node[key] = None
                if node.get('key_map') is not None:
                    node['key_map'] = None
        init_cfg = node.get('init_cfg')
        if _is_pretrained_init(init_cfg):
            removed.append(f'{path}.init_cfg')
            node['init_cfg'] = None
        elif isinstance(init_cfg, list):
            node['init_cfg'] = [c for c in init_cfg
                                if not _is_pretrained_init(c)]
        for key, child in node.items():
            _remove_weights(child, f'{path}.{key}', removed)
    elif isinstance(node, (list, tuple)):
        for index, child in enumerate(node):
            _remove_weights(child, f'{path}[{index}]', removed)


def _is_pretrained_init(init_cfg: Any) -> bool:
    return isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'


def init_cfg_loads_checkpoint(init_cfg: Any) -> bool:
    """Return whether an mmengine ``init_cfg`` (a dict or a list of them)
    contains a ``Pretrained`` entry, which loads weights."""
    entries = init_cfg if isinstance(init_cfg, list) else [init_cfg]
    return any(_is_pretrained_init(entry) for entry in entries)


def _to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


__all__ = ['DEFAULT_LORA', 'STRATEGIES', 'UNFREEZE_FRACTION',
           'apply_strategy']
