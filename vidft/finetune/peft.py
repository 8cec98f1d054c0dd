"""Parameter-efficient fine-tuning: LoRA (through the ``peft`` library),
BitFit and linear probing of a model's backbone.

A config wraps its model in :class:`PeftModel`::

    model = dict(
        type='PeftModel',
        model=dict(type='recognition.Recognizer3D', backbone=..., ...),
        peft=dict(method='lora', target_types=('Conv3d',), r=8,
                  lora_alpha=16, lora_dropout=0.0))

or lets :func:`vidft.finetune.apply_strategy` write that. When the wrapper
is built it first runs the inner model's ``init_weights()``, so pretrained
weights load under their original names, and only then applies the method
with :func:`apply_peft`. peft renames every adapted layer's parameters
(``conv.weight`` becomes ``conv.base_layer.weight``), so loading a
pretrained file after that would miss them. Everything outside the target
module (the heads) stays trainable.

Checkpoints of a wrapped model hold only what training changes: the
trainable parameters and the buffers of norm layers that are not kept in
eval mode. The state dict's metadata (``state_dict._metadata``, where
PyTorch keeps per-module versions) records the base weights: their SHA-256
over names, dtypes, shapes and values, and the pretrained sources the
backbone names. Loading such a checkpoint checks that the model's frozen
weights have the same hash. ``vidft export --merge-lora`` folds the LoRA
weights into the base layers and writes a plain checkpoint of the inner
model (:meth:`PeftModel.merge`).
"""
import copy
import dataclasses
import hashlib
import logging
import re
import warnings
from collections import OrderedDict
from fnmatch import fnmatchcase
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import MODELS
from .freezing import set_norm_eval
from .loading import CheckpointMismatchError
from .report import get_logger

logger = logging.getLogger(__name__)

METHODS = ('lora', 'bitfit', 'linear_probe')

# Layer types LoRA may adapt, by the names configs use in target_types.
LORA_LAYER_TYPES: Dict[str, type] = {
    'Linear': nn.Linear,
    'Conv1d': nn.Conv1d,
    'Conv2d': nn.Conv2d,
    'Conv3d': nn.Conv3d,
    'Embedding': nn.Embedding,
}

# Keys of the ``peft`` dict that vidft reads itself; the other keys go to
# peft's LoraConfig.
OWN_KEYS = ('method', 'target', 'target_modules', 'target_types',
            'modules_to_save')
LORA_DEFAULTS = dict(r=8, lora_alpha=16, lora_dropout=0.0)

# Key in the state dict metadata under which the base reference is stored.
REFERENCE_KEY = 'vidft_peft'
REFERENCE_FORMAT_VERSION = 1

# Module names shown when a pattern matches nothing.
NUM_EXAMPLE_NAMES = 8


@dataclasses.dataclass
class PeftReport:
    """The changes :func:`apply_peft` made to a model.

    Attributes:
        method: ``'lora'``, ``'bitfit'`` or ``'linear_probe'``.
        target: Name of the module the method was applied to.
        adapted: Names (below ``target``) of the layers that got LoRA.
        skipped: Layers of a matching type left out, with the reason.
        fully_trained: Modules of ``modules_to_save``, trained in full.
        trainable: Trainable parameter elements of the whole model.
        total: All parameter elements of the whole model, LoRA included.
        tuner: peft's ``LoraModel`` for ``'lora'``, used to merge.
    """

    method: str
    target: str
    adapted: List[str] = dataclasses.field(default_factory=list)
    skipped: Dict[str, str] = dataclasses.field(default_factory=dict)
    fully_trained: List[str] = dataclasses.field(default_factory=list)
    trainable: int = 0
    total: int = 0
    tuner: Optional[nn.Module] = dataclasses.field(default=None, repr=False)

    @property
    def trainable_fraction(self) -> float:
        """Trainable parameter elements over all parameter elements."""
        return self.trainable / self.total if self.total else 0.0

    def summary(self) -> str:
        """Return a one-paragraph description for the log."""
        text = (f'{self.method} on {self.target}: {self.trainable:,} of '
                f'{self.total:,} parameters trainable '
                f'({100 * self.trainable_fraction:.2f}%)')
        if self.method == 'lora':
            text += f'; LoRA on {len(self.adapted)} layers'
        if self.skipped:
            text += (f'; {len(self.skipped)} layers left out, for example '
                     f'{next(iter(self.skipped.items()))}')
        if self.fully_trained:
            text += f'; trained in full: {", ".join(self.fully_trained)}'
        return text


def count_parameters(model: nn.Module) -> Dict[str, int]:
    """Return the ``'trainable'`` and ``'total'`` parameter elements."""
    params = list(model.parameters())
    return dict(trainable=sum(p.numel() for p in params if p.requires_grad),
                total=sum(p.numel() for p in params))


def apply_peft(model: nn.Module, cfg: Mapping[str, Any]) -> PeftReport:
    """Apply a parameter-efficient method to ``model.<target>`` in place.

    Load pretrained weights before calling it: LoRA renames the parameters
    of the layers it adapts. The model must not be wrapped by DDP yet.

    Args:
        model: The model, for example a recognizer with a ``backbone``.
        cfg: ``method`` (``'lora'``, ``'bitfit'``, ``'linear_probe'``) and:

            * ``target``: the module to adapt, ``'backbone'`` by default;
              the rest of the model stays trainable;
            * ``target_modules``: fnmatch patterns of layer names below
              ``target`` (``'*.conv_pw'``), for LoRA;
            * ``target_types``: layer types for LoRA, from
              :data:`LORA_LAYER_TYPES`. With both, a layer must match a
              pattern and a type. Grouped convolutions (depthwise) are left
              out when picked by type, because peft cannot merge them;
            * ``modules_to_save``: fnmatch patterns of modules below
              ``target`` to train in full, for every method;
            * LoRA options of peft's ``LoraConfig``: ``r`` (8),
              ``lora_alpha`` (16), ``lora_dropout`` (0.0), ``use_rslora``,
              ``init_lora_weights``, ...

    Returns:
        A :class:`PeftReport`; it is also logged at INFO.
    """
    options = dict(cfg)
    method = options.pop('method', None)
    if method not in METHODS:
        raise ValueError(f'expected peft method in {METHODS}, got {method!r}')
    target_name = options.pop('target', 'backbone')
    target = _get_submodule(model, target_name)
    save_patterns = _as_list(options.pop('modules_to_save', None))
    fully_trained = _match_modules(target, save_patterns, 'modules_to_save')
    report = PeftReport(method=method, target=target_name)

    if method == 'lora':
        _apply_lora(target, options, fully_trained, report)
    else:
        if options:
            raise ValueError(f'{method} takes no options besides target and '
                             f'modules_to_save, got {sorted(options)}; they '
                             "are LoRA options, for method='lora'")
        for name, param in target.named_parameters():
            param.requires_grad_(method == 'bitfit' and
                                 name.rsplit('.', 1)[-1] == 'bias')

    for name in fully_trained:
        target.get_submodule(name).requires_grad_(True)
    report.fully_trained = fully_trained
    counts = count_parameters(model)
    report.trainable, report.total = counts['trainable'], counts['total']
    # The current mmengine logger writes to the run's log file, next to the
    # load report of the pretrained weights.
    get_logger().info(report.summary())
    return report


def _apply_lora(target: nn.Module, options: Dict[str, Any],
                excluded: Sequence[str], report: PeftReport) -> None:
    patterns = _as_list(options.pop('target_modules', None))
    type_names = _as_list(options.pop('target_types', None))
    if not patterns and not type_names:
        raise ValueError("LoRA needs target_modules (fnmatch patterns of "
                         "layer names) or target_types (such as "
                         "('Linear', 'Conv2d')), got neither")
    unknown_types = [t for t in type_names if t not in LORA_LAYER_TYPES]
    if unknown_types:
        raise ValueError(f'expected target_types from '
                         f'{sorted(LORA_LAYER_TYPES)}, got {unknown_types}')
    types = tuple(LORA_LAYER_TYPES[t] for t in type_names)

    selected = _select_lora_layers(target, patterns, types, excluded, report)
    if not selected:
        raise ValueError(
            f'no layer of {report.target} matches target_modules={patterns} '
            f'and target_types={type_names}. Layer names look like: '
            f'{_example_names(target)}')
    report.adapted = selected

    from peft import LoraConfig, LoraModel
    known = {f.name for f in dataclasses.fields(LoraConfig)}
    bad = sorted(set(options) - known)
    if bad:
        raise ValueError(f'unknown LoRA options {bad}; valid keys are those '
                         f"of peft's LoraConfig, such as r, lora_alpha, "
                         'lora_dropout, use_rslora')
    lora_options = {**LORA_DEFAULTS, **options}
    # An anchored regular expression, because peft treats a list of names as
    # suffixes and could match deeper layers of the same name.
    regex = '^(' + '|'.join(re.escape(name) for name in selected) + ')$'
    lora_config = LoraConfig(target_modules=regex, **lora_options)
    report.tuner = LoraModel(target, lora_config, adapter_name='default')
    for name in selected:
        _hooks_to_wrapper(target.get_submodule(name))


class _HookOfWrappedLayer:
    """A forward (pre-)hook of an adapted layer, registered on its LoRA
    wrapper.

    It runs the layer's own hook with the layer as ``module``, so hooks that
    read or set the layer's attributes (weight normalisation, pruning masks,
    ``stride``) keep working.
    """

    def __init__(self, hook: Callable, layer: nn.Module) -> None:
        self.hook = hook
        self.layer = layer

    def __call__(self, wrapper: nn.Module, *inputs: Any) -> Any:
        return self.hook(self.layer, *inputs)


# The hook dicts of a module: hooks, their with_kwargs flags, their
# always_call flags (forward hooks only) and the method that registers one.
_HOOK_KINDS = (
    ('_forward_pre_hooks', '_forward_pre_hooks_with_kwargs', None,
     'register_forward_pre_hook'),
    ('_forward_hooks', '_forward_hooks_with_kwargs',
     '_forward_hooks_always_called', 'register_forward_hook'),
)


def _move_hooks(wrapper: nn.Module, to_wrapper: bool) -> None:
    """Move the forward hooks and pre-hooks between a LoRA wrapper and the
    layer it adapts: onto the wrapper, each wrapped in
    :class:`_HookOfWrappedLayer`, or back onto the layer, unwrapped."""
    layer = wrapper.get_base_layer()
    source, destination = (layer, wrapper) if to_wrapper else (wrapper, layer)
    for hooks_name, kwargs_name, always_name, register in _HOOK_KINDS:
        hooks = getattr(source, hooks_name)
        with_kwargs = getattr(source, kwargs_name)
        always = getattr(source, always_name) if always_name else {}
        for hook_id, hook in list(hooks.items()):
            if to_wrapper:
                hook = _HookOfWrappedLayer(hook, layer)
            elif isinstance(hook, _HookOfWrappedLayer) and hook.layer is layer:
                hook = hook.hook
            else:
                continue
            options = dict(with_kwargs=hook_id in with_kwargs)
            if always_name:
                options['always_call'] = hook_id in always
            getattr(destination, register)(hook, **options)
            del hooks[hook_id]
            with_kwargs.pop(hook_id, None)
            always.pop(hook_id, None)


def _hooks_to_wrapper(wrapper: nn.Module) -> None:
    """Move the forward hooks and pre-hooks of the layer that ``wrapper``
    adapts onto the wrapper.

    peft's wrapper calls the original layer and adds the LoRA path. A
    pre-hook that changes the layer's input (TSM's temporal shift, for one)
    would reach the frozen weights but not the LoRA path, and a hook that
    reads the layer's output (feature extraction) would miss the LoRA term.
    On the wrapper they see the adapted layer. :meth:`PeftModel.merge` moves
    them back. Handles returned when the hooks were registered no longer
    remove them.
    """
    _move_hooks(wrapper, to_wrapper=True)


def _hooks_to_layer(wrapper: nn.Module) -> None:
    """Undo :func:`_hooks_to_wrapper` before the wrapper is removed."""
    _move_hooks(wrapper, to_wrapper=False)


def _select_lora_layers(target: nn.Module, patterns: Sequence[str],
                        types: tuple, excluded: Sequence[str],
                        report: PeftReport) -> List[str]:
    for pattern in patterns:
        if not any(fnmatchcase(name, pattern)
                   for name, _ in target.named_modules() if name):
            raise ValueError(
                f'target_modules pattern {pattern!r} matches no module of '
                f'{report.target} (fnmatch on full dotted names). Names look '
                f'like: {_example_names(target)}')

    selected = []
    for name, module in target.named_modules():
        if not name or _is_inside(name, excluded):
            continue
        if patterns and not any(fnmatchcase(name, p) for p in patterns):
            continue
        if types and not isinstance(module, types):
            continue
        if not isinstance(module, tuple(LORA_LAYER_TYPES.values())):
            if types:
                continue
            raise ValueError(
                f'target_modules matches {name!r}, a '
                f'{type(module).__name__}; LoRA adapts '
                f'{sorted(LORA_LAYER_TYPES)} layers. Make the pattern name '
                'those layers, or add target_types')
        if getattr(module, 'groups', 1) > 1:
            if not types:
                raise ValueError(
                    f'{name!r} is a grouped convolution (groups='
                    f'{module.groups}), which peft cannot merge; leave it '
                    'out of target_modules')
            report.skipped[name] = f'groups={module.groups}'
            continue
        selected.append(name)
    return selected


def _is_inside(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + '.') for p in prefixes)


def _match_modules(target: nn.Module, patterns: Sequence[str],
                   option: str) -> List[str]:
    matched: List[str] = []
    for pattern in patterns:
        names = [name for name, _ in target.named_modules()
                 if name and fnmatchcase(name, pattern)]
        if not names:
            raise ValueError(
                f'{option} pattern {pattern!r} matches no module (fnmatch on '
                f'full dotted names). Names look like: '
                f'{_example_names(target)}')
        matched += [n for n in names if not _is_inside(n, matched)]
    return matched


def _get_submodule(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError as exc:
        children = [n for n, _ in model.named_children()]
        raise ValueError(f'peft target {name!r} is not a module of '
                         f'{type(model).__name__}; its children are '
                         f'{children}') from exc


def _as_list(value: Union[None, str, Sequence[str]]) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _example_names(model: nn.Module) -> str:
    names = [name for name, _ in model.named_modules() if name]
    return ', '.join(names[:NUM_EXAMPLE_NAMES]) or '(no submodules)'


def hash_tensors(tensors: Mapping[str, Tensor]) -> str:
    """Return the SHA-256 of names, dtypes, shapes and values, by name."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        digest.update(f'{name}|{tensor.dtype}|{tuple(tensor.shape)}|'
                      .encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_peft_reference(state_dict: Mapping[str, Any]
                        ) -> Optional[Dict[str, Any]]:
    """Return the base-weight reference stored in a state dict, or None.

    ``state_dict`` may also be an mmengine checkpoint with a
    ``'state_dict'`` entry.
    """
    if 'state_dict' in state_dict and isinstance(state_dict['state_dict'],
                                                 Mapping):
        state_dict = state_dict['state_dict']
    metadata = getattr(state_dict, '_metadata', None) or {}
    for entry in metadata.values():
        if isinstance(entry, Mapping) and REFERENCE_KEY in entry:
            return dict(entry[REFERENCE_KEY])
    return None


@MODELS.register_module()
class PeftModel(BaseModel):
    """A model whose backbone is adapted by LoRA, BitFit or linear probing.

    This is vidft's wrapper, not ``peft.PeftModel``: it keeps the inner
    model as ``self.model`` and forwards ``forward`` and unknown attributes
    to it, and it shares the inner model's data preprocessor.

    Args:
        model: Config of the inner model (or the built model). Its pretrained
            weights load when the wrapper is built.
        peft: The method and its options; see :func:`apply_peft`.
        norm_eval: ``'frozen'`` keeps BatchNorm layers whose parameters are
            all frozen in eval mode. Their running statistics then stay
            those of the pretrained weights and are not saved. ``False``
            lets them update, and checkpoints then include them. ``None``
            (the default) picks ``False`` for LoRA and ``'frozen'`` for the
            other methods. LoRA changes the convolutions in front of each
            BatchNorm, so the pretrained statistics go stale. With them
            frozen, a LoRA run on EfficientNet-Lite0 drove every output of
            the last convolution below zero, where ReLU6 passes nothing and
            no gradient, and the model stopped learning.
    """

    def __init__(self, model: Union[dict, BaseModel], peft: dict,
                 norm_eval: Union[bool, str, None] = None) -> None:
        if norm_eval is None:
            norm_eval = False if peft.get('method') == 'lora' else 'frozen'
        if norm_eval not in (False, 'frozen'):
            raise ValueError(f"expected norm_eval in (None, False, 'frozen'), "
                             f'got {norm_eval!r}')
        inner = MODELS.build(model) if isinstance(model, dict) else model
        if not isinstance(inner, BaseModel):
            raise TypeError(f'expected the inner model to be an mmengine '
                            f'BaseModel, got {type(inner).__name__}')
        super().__init__(data_preprocessor=inner.data_preprocessor)
        self.model = inner
        self.norm_eval = norm_eval
        self.peft_cfg = copy.deepcopy(dict(peft))

        # Pretrained weights first, under the names their files use.
        inner.init_weights()
        report = apply_peft(inner, self.peft_cfg)
        # Kept out of the module tree: the tuner wraps the same backbone.
        self.__dict__['peft_report'] = report
        self._merged = False
        self._loading_light_checkpoint = False
        self.register_state_dict_post_hook(PeftModel._keep_trained_tensors)
        self._register_load_state_dict_pre_hook(
            self._check_base_reference, with_module=False)
        self.register_load_state_dict_post_hook(
            PeftModel._forget_base_keys)
        self.train(self.training)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == 'model':
                raise
            return getattr(super().__getattr__('model'), name)

    def init_weights(self) -> None:
        """Do nothing: the weights were initialised when the wrapper was
        built, before the adapters renamed the parameters."""
        logger.debug('PeftModel: weights were initialised at build time')

    def train(self, mode: bool = True) -> 'PeftModel':
        super().train(mode)
        if mode and self.norm_eval == 'frozen':
            set_norm_eval(self.model, only_frozen=True)
        return self

    def forward(self, inputs: Any, data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Any:
        if self._merged:
            raise RuntimeError('this PeftModel was merged; use the model '
                               'that merge() returned')
        return self.model(inputs, data_samples, mode)

    def layer_groups(self) -> List[List[str]]:
        """Return the inner model's layer groups (for layer-wise lr decay)
        with the ``'model.'`` prefix of this wrapper.

        NOTE: groups that list parameter names miss the parameters LoRA
        renamed or added (``conv.base_layer.weight``, ``conv.lora_A...``),
        so those keep factor 1. Set ``paramwise_cfg.layer_names`` to module
        prefixes (``'model.backbone.model.blocks.0'``) to cover them.
        """
        inner = self.model
        if hasattr(inner, 'layer_groups'):
            groups = inner.layer_groups()
        elif hasattr(getattr(inner, 'backbone', None), 'layer_groups'):
            groups = [[f'backbone.{name}' for name in group]
                      for group in inner.backbone.layer_groups()]
        else:
            raise NotImplementedError(
                f'{type(inner).__name__} has no layer_groups(); set '
                "paramwise_cfg.layer_names with 'model.' prefixes")
        return [[f'model.{name}' for name in group] for group in groups]

    # Checkpoints ------------------------------------------------------

    def trained_tensor_names(self) -> List[str]:
        """Return the state-dict names (below ``self.model``) that a checkpoint
        stores: the trainable parameters and every persistent buffer except
        those of BatchNorm layers that ``norm_eval='frozen'`` keeps in eval
        mode. The rule depends on the configuration, not on the current
        mode, so a checkpoint written during validation has the same keys.
        """
        names = [n for n, p in self.model.named_parameters()
                 if p.requires_grad]
        for module_name, module in self.model.named_modules():
            if self.norm_eval == 'frozen' and isinstance(
                    module, _BatchNorm) and not any(
                        p.requires_grad for p in module.parameters()):
                continue
            prefix = module_name + '.' if module_name else ''
            names += [prefix + n for n, b in module.named_buffers(
                recurse=False) if b is not None
                and n not in module._non_persistent_buffers_set]
        return names

    def base_reference(self) -> Dict[str, Any]:
        """Return the reference to the frozen base weights."""
        state = self.model.state_dict()
        trained = set(self.trained_tensor_names())
        base = {k: v for k, v in state.items() if k not in trained}
        sources = {}
        for name, module in self.model.named_modules():
            for attribute in ('pretrained', 'weights'):
                value = getattr(module, attribute, None)
                if isinstance(value, str):
                    sources[name] = value
        return dict(version=REFERENCE_FORMAT_VERSION,
                    method=self.peft_cfg['method'],
                    peft=_plain(self.peft_cfg), base_sha256=hash_tensors(base),
                    num_base_tensors=len(base), base_sources=sources)

    @staticmethod
    def _keep_trained_tensors(module: 'PeftModel', state_dict: Dict,
                              prefix: str, local_metadata: Dict) -> None:
        keep = {prefix + 'model.' + n for n in module.trained_tensor_names()}
        for key in [k for k in state_dict if k.startswith(prefix)]:
            if key not in keep:
                del state_dict[key]
        local_metadata[REFERENCE_KEY] = module.base_reference()

    def _check_base_reference(self, state_dict: Dict, prefix: str,
                              local_metadata: Dict, strict: bool,
                              missing_keys: List[str],
                              unexpected_keys: List[str],
                              error_msgs: List[str]) -> None:
        saved = local_metadata.get(REFERENCE_KEY)
        self._loading_light_checkpoint = saved is not None
        if saved is None:
            return
        current = self.base_reference()
        if saved.get('base_sha256') != current['base_sha256']:
            raise CheckpointMismatchError(
                f"the checkpoint was trained on base weights with SHA-256 "
                f"{saved.get('base_sha256')} (sources "
                f"{saved.get('base_sources')}), but this model's frozen "
                f"weights have {current['base_sha256']} (sources "
                f"{current['base_sources']}); build the model with the "
                'pretrained weights and peft options of the training run')

    @staticmethod
    def _forget_base_keys(module: 'PeftModel', incompatible: Any) -> None:
        # A light checkpoint leaves out the base weights on purpose.
        if not module._loading_light_checkpoint:
            return
        module._loading_light_checkpoint = False
        trained = set(module.trained_tensor_names())
        missing = incompatible.missing_keys
        missing[:] = [k for k in missing if not _is_base_key(k, trained)]

    # Merging ----------------------------------------------------------

    def merge(self) -> BaseModel:
        """Fold LoRA weights into the base layers and return the inner model.

        The result has the inner model's plain parameter names and loads
        without peft. This wrapper is unusable afterwards.
        """
        if self._merged:
            raise RuntimeError('merge() was already called on this model')
        tuner = self.peft_report.tuner
        if tuner is not None:
            wrappers = [module for module in tuner.model.modules()
                        if hasattr(module, 'lora_A') and hasattr(module, 'get_base_layer')]
            for module in wrappers:
                if _is_pointwise_conv3d_lora(module):
                    _merge_pointwise_conv3d(module)
                # merge_and_unload puts the base layer back in place of the
                # wrapper, so its hooks go back with it.
                _hooks_to_layer(module)
            try:
                with warnings.catch_warnings():
                    # Raised for the layers merged above, which is intended.
                    warnings.filterwarnings(
                        'ignore', message='All adapters are already merged')
                    tuner.merge_and_unload(safe_merge=True)
            except Exception:
                # Wrappers that peft has not unloaded yet get their hooks
                # back. The layers it did unload keep theirs.
                present = {id(module) for module in tuner.model.modules()}
                for module in wrappers:
                    if id(module) in present:
                        _hooks_to_wrapper(module)
                raise
        self._merged = True
        return self.model


def _is_pointwise_conv3d_lora(module: nn.Module) -> bool:
    if not hasattr(module, 'lora_A') or not hasattr(module,
                                                     'get_base_layer'):
        return False
    weight = module.get_base_layer().weight
    return weight.dim() == 5 and tuple(weight.shape[2:4]) == (1, 1)


def _merge_pointwise_conv3d(module: nn.Module) -> None:
    """Merge LoRA into a Conv3d whose kernel is 1 x 1 in its first two
    dimensions.

    NOTE: peft 0.21.2 computes the delta of such a layer (R(2+1)D's 1x1x1
    downsampling convs) with the Conv2d 1x1 formula, which fails on 5-D
    weights. This applies peft's general convolution formula instead and
    marks the adapter merged, so merge_and_unload only unwraps the layer.
    """
    base = module.get_base_layer()
    for adapter in module.active_adapters:
        if adapter in module.merged_adapters or adapter not in module.lora_A:
            continue
        if module.use_dora.get(adapter) or module.lora_bias.get(adapter):
            raise NotImplementedError(
                'merging DoRA or lora_bias adapters of a 1x1x1 Conv3d is not '
                'supported; train without use_dora and lora_bias')
        weight_a = module.lora_A[adapter].weight.float()
        weight_b = module.lora_B[adapter].weight.float()
        delta = torch.nn.functional.conv3d(weight_a.transpose(0, 1),
                                           weight_b).transpose(0, 1)
        delta = delta * module.scaling[adapter]
        if not torch.isfinite(delta).all():
            raise ValueError(f'the LoRA weights of adapter {adapter!r} are '
                             'not finite; the checkpoint is broken')
        with torch.no_grad():
            base.weight += delta.to(base.weight.dtype)
        module.merged_adapters.append(adapter)


def _is_base_key(key: str, trained: set) -> bool:
    # Keys arrive with their full prefix; compare the part below 'model.'.
    if key.startswith('data_preprocessor.'):
        return True  # the inner model's preprocessor, saved under 'model.'
    _, found, below = key.partition('model.')
    return bool(found) and below not in trained


def _plain(value: Any) -> Any:
    """Return ``value`` as nested dicts, lists and scalars for a checkpoint."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


__all__ = ['LORA_LAYER_TYPES', 'METHODS', 'PeftModel', 'PeftReport',
           'apply_peft', 'count_parameters', 'hash_tensors',
           'read_peft_reference']
