"""Optimizer construction for fine-tuning: frozen parameters, layer decay.

Use it from a config::

    optim_wrapper = dict(
        constructor='VidftOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
        paramwise_cfg=dict(
            norm_decay_mult=0.0,
            custom_keys={'backbone': dict(lr_mult=0.1)},
            layer_decay_rate=0.75))
"""
import difflib
import inspect
import logging
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from torch import nn
from torch.nn import GroupNorm, LayerNorm
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm

from ..registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

NORM_LAYERS: Tuple[type, ...] = (_BatchNorm, _InstanceNorm, GroupNorm,
                                 LayerNorm)
if hasattr(nn, 'RMSNorm'):
    NORM_LAYERS += (nn.RMSNorm,)

# Options of mmengine's DefaultOptimWrapperConstructor that this one keeps.
MMENGINE_OPTIONS = ('custom_keys', 'bias_lr_mult', 'bias_decay_mult',
                    'norm_decay_mult', 'dwconv_decay_mult', 'flat_decay_mult',
                    'bypass_duplicate')
LAYER_DECAY_OPTIONS = ('layer_decay_rate', 'layer_names')

# Layer-group prefixes shown per row of the param-group table.
MAX_PREFIXES_SHOWN = 2


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class VidftOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Builds an optimizer wrapper from the trainable parameters only.

    Differences from mmengine's ``DefaultOptimWrapperConstructor``:

    * parameters with ``requires_grad=False`` are left out of the optimizer,
      with one INFO line that counts them;
    * parameters with the same settings share one param group, and one INFO
      table lists the groups (name pattern, lr, weight decay, tensors);
    * ``paramwise_cfg`` also takes layer-wise lr decay:
      ``layer_decay_rate=r`` multiplies the lr of layer i of N (0 nearest
      the input) by ``r ** (N - i)``. Parameters outside every layer, such
      as the head, keep factor 1. Layers are lists of parameter-name
      prefixes, from ``layer_names`` in the config (each entry a prefix or a
      list of prefixes) or from the model's ``layer_groups()``, or else its
      backbone's (then prefixed with ``'backbone.'``);
    * depthwise convs for ``dwconv_decay_mult`` are 1D, 2D and 3D convs with
      ``groups == in_channels > 1``;
    * an unknown ``paramwise_cfg`` key raises, instead of being ignored.

    The mmengine options keep their meaning. In ``custom_keys``, the
    longest key that is a substring of a parameter name wins, and ties go to
    the alphabetically first key. Its ``lr_mult`` and ``decay_mult`` scale
    the base values, its other entries go into the param group as optimizer
    options, and the rules below are skipped. ``bias_lr_mult`` applies to
    biases outside norm layers. For weight decay, the first of
    ``norm_decay_mult``, ``bias_decay_mult``, ``dwconv_decay_mult`` and
    ``flat_decay_mult`` (1-D tensors) that applies is used.
    ``bypass_duplicate`` keeps a tensor shared by several modules once. A
    layer-decay factor multiplies the lr that these rules give.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(optim_wrapper_cfg, dict) or \
                'optimizer' not in optim_wrapper_cfg:
            raise ValueError('expected optim_wrapper_cfg to be a dict with an '
                             f"'optimizer' entry, got {optim_wrapper_cfg!r}")
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        self._check_paramwise_cfg()

    def _check_paramwise_cfg(self) -> None:
        cfg = self.paramwise_cfg
        known = MMENGINE_OPTIONS + LAYER_DECAY_OPTIONS
        for key in cfg:
            if key == 'dcn_offset_lr_mult':
                raise NotImplementedError(
                    'dcn_offset_lr_mult needs mmcv deformable convolutions, '
                    'which vidft does not use; write custom_keys='
                    "{'conv_offset': dict(lr_mult=...)} instead")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ''
                raise ValueError(f'unknown paramwise_cfg key {key!r}.{hint} '
                                 f'Valid keys: {", ".join(known)}')

        for key, options in cfg.get('custom_keys', {}).items():
            if not isinstance(options, dict):
                raise TypeError(f'expected custom_keys[{key!r}] to be a dict '
                                f'such as dict(lr_mult=0.1), got {options!r}')
        lr_mults = [o for o in cfg.get('custom_keys', {}).values()
                    if 'lr_mult' in o]
        if self.base_lr is None and (lr_mults or 'bias_lr_mult' in cfg or
                                     'layer_decay_rate' in cfg):
            raise ValueError('lr multipliers need a base lr: set lr in the '
                             'optimizer config')
        if self.base_wd is None and 'flat_decay_mult' in cfg:
            raise ValueError('flat_decay_mult needs a base weight decay: set '
                             'weight_decay in the optimizer config')

        if 'layer_decay_rate' in cfg:
            rate = cfg['layer_decay_rate']
            if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
                raise ValueError(f'expected layer_decay_rate in (0, 1], got '
                                 f'{rate!r}')
        elif 'layer_names' in cfg:
            raise ValueError('layer_names is only used with '
                             'layer_decay_rate; set both or neither')

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if is_model_wrapper(model):
            model = model.module

        param_groups = self.build_param_groups(model)
        optimizer_cfg = self.optimizer_cfg.copy()
        optimizer_cfg[self._first_argument_name()] = param_groups
        optimizer = OPTIMIZERS.build(optimizer_cfg)

        optim_wrapper_cfg = self.optim_wrapper_cfg.copy()
        optim_wrapper_cfg.setdefault('type', 'OptimWrapper')
        return OPTIM_WRAPPERS.build(optim_wrapper_cfg,
                                    default_args=dict(optimizer=optimizer))

    def _first_argument_name(self) -> str:
        # Some optimizers (colossalai's HybridAdam) name the parameter list
        # 'model_params' instead of 'params'.
        optimizer_type = self.optimizer_cfg['type']
        if isinstance(optimizer_type, str):
            with OPTIMIZERS.switch_scope_and_registry(None) as registry:
                optimizer_type = registry.get(optimizer_type)
        return next(iter(inspect.signature(optimizer_type).parameters))

    def build_param_groups(self, model: nn.Module) -> List[dict]:
        """Return the param groups for ``model`` and log them as a table."""
        layer_of = self._layer_assigner(model)
        groups: Dict[tuple, dict] = {}
        labels: Dict[tuple, str] = {}
        seen: Dict[int, str] = {}
        frozen_tensors = frozen_elements = 0

        for module_name, module in model.named_modules():
            for param_name, param in module.named_parameters(recurse=False):
                name = f'{module_name}.{param_name}' if module_name \
                    else param_name
                if self._is_duplicate(name, param, seen):
                    continue
                if not param.requires_grad:
                    frozen_tensors += 1
                    frozen_elements += param.numel()
                    continue

                label, settings = self._settings(name, param_name, param,
                                                 module, layer_of)
                # repr() because optimizer options may be lists.
                key = (label, repr(sorted(settings.items())))
                if key not in groups:
                    groups[key] = dict(params=[], **settings)
                    labels[key] = label
                groups[key]['params'].append(param)

        if not groups:
            raise ValueError('the model has no trainable parameters: every '
                             'parameter has requires_grad=False. Freeze less '
                             'of the model.')
        self._log_table(list(groups.values()), list(labels.values()),
                        frozen_tensors, frozen_elements)
        return list(groups.values())

    def _is_duplicate(self, name: str, param: nn.Parameter,
                      seen: Dict[int, str]) -> bool:
        first = seen.setdefault(id(param), name)
        if first == name:
            return False
        if not self.paramwise_cfg.get('bypass_duplicate', False):
            raise ValueError(
                f"parameter '{name}' is the same tensor as '{first}', so it "
                'would be in two param groups; set '
                'paramwise_cfg=dict(bypass_duplicate=True) to keep only its '
                'first name')
        print_log(f"Skipping '{name}', the same tensor as '{first}' "
                  '(bypass_duplicate=True)', logger='current',
                  level=logging.DEBUG)
        return True

    def _settings(self, name: str, param_name: str, param: nn.Parameter,
                  module: nn.Module, layer_of) -> Tuple[str, dict]:
        """Return the table label and the group settings of one parameter."""
        cfg = self.paramwise_cfg
        lr_mult = decay_mult = 1.0
        extra: dict = {}
        custom_key = self._custom_key(name)

        if custom_key is not None:
            options = dict(cfg['custom_keys'][custom_key])
            lr_mult = options.pop('lr_mult', 1.0)
            decay_mult = options.pop('decay_mult', 1.0)
            extra = options
            label = f'*{custom_key}*'
        else:
            lr_mult, decay_mult, label = self._builtin_rules(
                param_name, param, module)

        layer = layer_of(name) if layer_of is not None else None
        if layer_of is not None and layer is None:
            outside = 'outside the layers'
            label = outside if label == '*' else f'{outside} {label}'
        if layer is not None:
            index, count, prefixes = layer
            lr_mult *= cfg['layer_decay_rate'] ** (count - index)
            patterns = ', '.join(
                prefix + '.*' for prefix in prefixes[:MAX_PREFIXES_SHOWN])
            if len(prefixes) > MAX_PREFIXES_SHOWN:
                patterns += ', ...'
            layer_label = f'layer {index}/{count} ({patterns})'
            label = layer_label if label == '*' else f'{layer_label} {label}'

        settings = dict(extra)
        if self.base_lr is not None:
            settings['lr'] = self.base_lr * lr_mult
        if self.base_wd is not None:
            settings['weight_decay'] = self.base_wd * decay_mult
        return label, settings

    def _custom_key(self, name: str) -> Optional[str]:
        keys = self.paramwise_cfg.get('custom_keys', {})
        matching = [key for key in keys if key in name]
        if not matching:
            return None
        return sorted(matching, key=lambda key: (-len(key), key))[0]

    def _builtin_rules(self, param_name: str, param: nn.Parameter,
                       module: nn.Module) -> Tuple[float, float, str]:
        cfg = self.paramwise_cfg
        is_norm = isinstance(module, NORM_LAYERS)
        is_bias = param_name == 'bias'
        is_dwconv = (isinstance(module, _ConvNd) and module.groups > 1
                     and module.groups == module.in_channels)
        lr_mult = decay_mult = 1.0
        labels = []

        if is_bias and not is_norm and 'bias_lr_mult' in cfg:
            lr_mult = cfg['bias_lr_mult']
            labels.append('biases')
        if is_norm and 'norm_decay_mult' in cfg:
            decay_mult = cfg['norm_decay_mult']
            labels.append('norm layers')
        elif is_bias and 'bias_decay_mult' in cfg:
            decay_mult = cfg['bias_decay_mult']
            if 'biases' not in labels:
                labels.append('biases')
        elif is_dwconv and 'dwconv_decay_mult' in cfg:
            decay_mult = cfg['dwconv_decay_mult']
            labels.append('depthwise convs')
        elif param.dim() == 1 and 'flat_decay_mult' in cfg:
            decay_mult = cfg['flat_decay_mult']
            labels.append('1-D tensors')
        return lr_mult, decay_mult, ' & '.join(labels) or '*'

    def _layer_assigner(self, model: nn.Module):
        """Return name -> (layer index, layer count, prefixes) or None."""
        if 'layer_decay_rate' not in self.paramwise_cfg:
            return None
        layers = self._layer_prefixes(model)
        names = [name for name, _ in model.named_parameters()]
        for prefix in (p for layer in layers for p in layer):
            if not any(_under(name, prefix) for name in names):
                raise ValueError(
                    f'layer prefix {prefix!r} matches no parameter of the '
                    f'model; parameter names look like {", ".join(names[:5])}')

        # The longest prefix wins when layers nest.
        ordered = sorted(((p, i) for i, layer in enumerate(layers)
                          for p in layer), key=lambda item: -len(item[0]))
        count = len(layers)

        def layer_of(name: str) -> Optional[Tuple[int, int, List[str]]]:
            for prefix, index in ordered:
                if _under(name, prefix):
                    return index, count, layers[index]
            return None
        return layer_of

    def _layer_prefixes(self, model: nn.Module) -> List[List[str]]:
        if 'layer_names' in self.paramwise_cfg:
            raw = self.paramwise_cfg['layer_names']
            source = 'paramwise_cfg.layer_names'
        elif hasattr(model, 'layer_groups'):
            raw = model.layer_groups()
            source = f'{type(model).__name__}.layer_groups()'
        elif hasattr(getattr(model, 'backbone', None), 'layer_groups'):
            raw = [[f'backbone.{p}' for p in _as_list(layer)]
                   for layer in model.backbone.layer_groups()]
            source = f'{type(model.backbone).__name__}.layer_groups()'
        else:
            raise ValueError(
                f'layer_decay_rate needs the layers of {type(model).__name__}:'
                ' set paramwise_cfg.layer_names to a list of parameter-name '
                'prefixes from input to output, or give the model or its '
                'backbone a layer_groups() method that returns them')

        if isinstance(raw, str) or not isinstance(raw, Sequence) or not raw:
            raise ValueError(f'expected {source} to be a non-empty list of '
                             f'layers, got {raw!r}')
        layers = [_as_list(layer) for layer in raw]
        if not all(layers) or not all(isinstance(p, str) and p
                                      for layer in layers for p in layer):
            raise ValueError(f'expected each layer of {source} to be a '
                             'prefix or a non-empty list of prefixes, got '
                             f'{raw!r}')
        return [[p.rstrip('.') for p in layer] for layer in layers]

    def _log_table(self, groups: List[dict], labels: List[str],
                   frozen_tensors: int, frozen_elements: int) -> None:
        width = max(len('name pattern'), *(len(label) for label in labels))
        rows = [f'  {"group":>5}  {"name pattern":<{width}}  {"lr":>10}  '
                f'{"weight decay":>12}  {"tensors":>7}']
        for index, (group, label) in enumerate(zip(groups, labels)):
            lr = _format_number(group.get('lr'))
            decay = _format_number(group.get('weight_decay'))
            rows.append(f'  {index:>5}  {label:<{width}}  {lr:>10}  '
                        f'{decay:>12}  {len(group["params"]):>7}')
        rows.append(f'  frozen, left out of the optimizer: {frozen_tensors} '
                    f'tensors, {frozen_elements:,} elements')
        optimizer_type = self.optimizer_cfg['type']
        optimizer_name = getattr(optimizer_type, '__name__', optimizer_type)
        print_log(f'Param groups of {optimizer_name}:\n'
                  + '\n'.join(rows), logger='current')


def _as_list(layer) -> List[str]:
    return [layer] if isinstance(layer, str) else list(layer)


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + '.')


def _format_number(value: Optional[float]) -> str:
    return 'default' if value is None else f'{value:.4g}'
