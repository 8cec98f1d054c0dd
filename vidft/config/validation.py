"""Validation of a loaded config against :mod:`vidft.config.schema`."""
import collections.abc
import difflib
import importlib.util
import inspect
import os
import re
import typing
from typing import (Any, Dict, Iterator, List, Mapping, Optional, Sequence,
                    Set, Tuple, Union)

from mmengine.config import Config
from yacs.config import CfgNode, _check_and_coerce_cfg_value_type

from . import schema

# Maximum length of the repr of a value quoted in an error message.
MAX_VALUE_REPR = 60

# Loop arguments that the Runner passes itself.
RUNNER_LOOP_ARGS = ('self', 'runner', 'dataloader', 'evaluator')

# Registries that build the dicts below a model, in the order tried.
MODEL_PART_REGISTRIES = ('BACKBONES', 'NECKS', 'HEADS', 'LOSSES', 'MODELS')

# Data loader keys that the Runner takes out before it calls DataLoader.
LOADER_RUNNER_KEYS = ('dataset', 'sampler', 'batch_sampler', 'collate_fn',
                      'worker_init_fn', 'num_batch_per_epoch',
                      'disable_subprocess_warning')

# Scopes that are always valid besides the installed plugins.
CORE_SCOPES = ('vidft', 'mmengine')


class ConfigError(ValueError):
    """An invalid config.

    ``problems`` contains one ``(key, reason)`` pair per problem, ``keys``
    the keys alone, and ``source`` the config file when one is known.
    """

    def __init__(self, problems: Sequence[Tuple[str, str]],
                 source: Optional[str] = None) -> None:
        self.problems = list(problems)
        self.keys = [key for key, _ in self.problems]
        self.source = source
        super().__init__(self._format())

    def _format(self) -> str:
        where = f'invalid config {self.source}' if self.source else \
            'invalid config'
        lines = [f'{key}: {reason}' for key, reason in self.problems]
        if len(lines) == 1:
            return f'{where}: {lines[0]}'
        listed = '\n'.join(f'  - {line}' for line in lines)
        return f'{where} ({len(lines)} problems):\n{listed}'


def validate_config(cfg: Config, *,
                    overrides: Optional[Mapping[str, str]] = None) -> None:
    """Raise :class:`ConfigError` unless every key of ``cfg`` is understood.

    First, each top-level key must be an accepted key or a helper variable.
    A legacy key is reported with its modern replacement. Next, typed keys
    must have the right type, and closed sections must not contain unknown
    keys. Then the scopes named by ``default_scope``, ``_scope_`` and
    ``type`` prefixes must exist. Last, each dict that the Runner builds (the
    loops, datasets and their transforms, model parts, optimizer, hooks,
    metrics, schedulers, data loaders and samplers) must name a registered
    type and only arguments that its class takes, with values that fit the
    simple type hints of those arguments. NOTE: a class whose arguments end
    in open ``**kwargs`` passes every key. ``overrides`` maps
    ``--cfg-options`` keys to the text the user gave, so that each problem
    they caused names its option. All problems are reported in one error.
    """
    problems: List[Tuple[str, str]] = []
    schema_root = schema.typed_defaults()
    imported = set(getattr(cfg, '_imported_names', ()))

    for name in cfg.keys():
        if name in imported:
            continue  # a class or function imported by a lazy-import config
        reason = _classify_top_level(name)
        if reason is not None:
            problems.append((name, reason))
            continue
        if name in schema.ACCEPTED_KEYS:
            problems.extend(
                _check_value(name, cfg[name], schema_root.get(name)))

    problems.extend(_check_legacy_nested(cfg))
    problems.extend(_check_scopes(cfg))
    # A legacy key reported above keeps its message with the replacement.
    reported = {key for key, _ in problems}
    problems.extend(problem for problem in _check_loop_arguments(cfg)
                    if problem[0] not in reported)
    problems.extend(_check_dataset_arguments(cfg))
    problems.extend(problem for problem in _check_components(cfg)
                    if problem[0] not in reported)
    problems.extend(_check_topk(cfg))

    if problems:
        raise ConfigError(_annotate(problems, overrides or {}),
                          source=cfg.filename)


def _loop_class(section: str, node: Mapping[str, Any]) -> type:
    """Return the loop class the Runner builds for ``node``.

    Raises:
        KeyError: the loop type is not registered.
    """
    # mmengine registers its loops when mmengine.runner is imported.
    import mmengine.runner  # noqa: F401

    from vidft.registry import LOOPS

    kind = node.get('type')
    if kind is None:
        # The Runner's shorthand: by_epoch picks the training loop.
        if section == 'train_cfg':
            kind = ('EpochBasedTrainLoop' if node['by_epoch'] else
                    'IterBasedTrainLoop')
        else:
            kind = 'ValLoop' if section == 'val_cfg' else 'TestLoop'
    if isinstance(kind, type):
        return kind
    return LOOPS.get(kind)


def _check_loop_arguments(cfg: Config) -> Iterator[Tuple[str, str]]:
    """Report keys of train_cfg, val_cfg and test_cfg that their loop class
    does not take (``train_cfg.max_epoch`` for ``max_epochs``), which would
    otherwise stop the Runner with a bare TypeError."""
    for section in ('train_cfg', 'val_cfg', 'test_cfg'):
        node = cfg.get(section)
        if not isinstance(node, Mapping) or not node:
            continue
        if section == 'train_cfg' and 'type' not in node and \
                'by_epoch' not in node:
            yield (section, "expected 'type' (EpochBasedTrainLoop or "
                   "IterBasedTrainLoop) or 'by_epoch', got neither")
            continue
        try:
            loop = _loop_class(section, node)
        except KeyError as error:
            if '.' in str(node.get('type', '')):
                continue  # an unknown scope prefix, which _check_scopes reports
            yield f'{section}.type', str(error).strip('"\'')
            continue
        parameters = inspect.signature(loop.__init__).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in parameters.values()):
            continue
        accepted = sorted(set(parameters) - set(RUNNER_LOOP_ARGS))
        shorthand = {'type'} | ({'by_epoch'} if 'type' not in node else set())
        for key in node:
            if key not in shorthand and key not in accepted:
                yield (f'{section}.{key}',
                       _unknown_argument(loop, key, accepted))


def _unknown_argument(cls: type, key: str, accepted: Sequence[str]) -> str:
    """Describe ``key`` as an argument that ``cls`` does not take, with the
    closest accepted name when one is close enough."""
    close = difflib.get_close_matches(key, accepted, n=1,
                                      cutoff=schema.SUGGESTION_CUTOFF)
    hint = f"did you mean '{close[0]}'? " if close else ''
    return (f'{cls.__name__} takes no argument {key!r}; {hint}'
            f'its arguments are {", ".join(accepted)}')


def _accepted_arguments(cls: type) -> Optional[List[str]]:
    """Return the keyword arguments that ``cls(...)`` takes, following
    ``**kwargs`` to the parent classes' ``__init__``; None when the chain
    ends in ``**kwargs`` that no class names."""
    accepted: Set[str] = set()
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.KEYWORD_ONLY)
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return None  # a C-level __init__ without a signature
        accepted.update(name for name, parameter in parameters.items()
                        if parameter.kind in named)
        if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                   for parameter in parameters.values()):
            return sorted(accepted - {'self'})
    return None


def _check_component(path: str, node: Mapping[str, Any], registry: Any,
                     scope: Optional[str], *, unknown_type: bool = True,
                     build_keys: Sequence[str] = ()
                     ) -> Iterator[Tuple[str, str]]:
    """Check a dict that ``registry`` builds: its type is registered, and
    its other keys are arguments of the class whose values fit the hints.
    ``unknown_type=False`` skips a type that does not resolve (a dict that
    another registry may build). ``build_keys`` are keys that the build
    function removes before it calls the class."""
    from vidft.registry import UnknownTypeError

    kind = node.get('type')
    try:
        if isinstance(kind, str):
            with registry.switch_scope_and_registry(scope) as found:
                kind = found.get(kind)
    except UnknownTypeError as error:
        kind = None
        if unknown_type and _prefix_is_plugin(node['type']):
            # An unknown prefix is reported by _check_scopes.
            yield f'{path}.type', error.args[0]
    except Exception:  # noqa: BLE001 the build reports its own errors
        kind = None
    accepted = (_accepted_arguments(kind)
                if isinstance(kind, type) else None)
    if accepted is None:
        return
    hints = _argument_hints(kind)
    accepted = sorted(set(accepted) | set(build_keys))
    for key, value in node.items():
        if key in ('type', '_scope_'):
            continue
        if key not in accepted:
            yield f'{path}.{key}', _unknown_argument(kind, key, accepted)
        elif key in hints and _matches_hint(value, hints[key]) is False:
            yield (f'{path}.{key}',
                   f'{kind.__name__} expects {_hint_name(hints[key])}, '
                   f'got {_describe(value)}')


def _check_model_node(path: str, node: Mapping[str, Any],
                      scope: Optional[str],
                      root: bool) -> Iterator[Tuple[str, str]]:
    """Check the model and, below it, every dict whose type is a model
    component (backbone, neck, head, loss, data preprocessor). A dict below
    the model whose type none of these registries has is left to the
    build, because another registry may build it."""
    from vidft import registry

    scope = node.get('_scope_', scope)
    if root:
        yield from _check_component(path, node, registry.MODELS, scope)
    else:
        for name in MODEL_PART_REGISTRIES:
            part_registry = getattr(registry, name)
            if _resolves(node['type'], part_registry, scope):
                yield from _check_component(path, node, part_registry, scope)
                break
    for key, value in node.items():
        if isinstance(value, Mapping) and 'type' in value:
            yield from _check_model_node(f'{path}.{key}', value, scope,
                                         root=False)


def _check_components(cfg: Config) -> Iterator[Tuple[str, str]]:
    """Check the dicts that the Runner builds besides the datasets and the
    loops: the model, the optimizer, the hooks, the metrics and the data
    loaders' own arguments."""
    from vidft.registry import HOOKS, METRICS, OPTIMIZERS

    scope = cfg.get('default_scope')
    model = cfg.get('model')
    if isinstance(model, Mapping) and 'type' in model:
        yield from _check_model_node('model', model, scope, root=True)
    optim_wrapper = cfg.get('optim_wrapper')
    if isinstance(optim_wrapper, Mapping):
        optimizer = optim_wrapper.get('optimizer')
        if isinstance(optimizer, Mapping) and 'type' in optimizer:
            yield from _check_component('optim_wrapper.optimizer', optimizer,
                                        OPTIMIZERS, scope)
    hooks = cfg.get('default_hooks')
    if isinstance(hooks, Mapping):
        for name, hook in hooks.items():
            if isinstance(hook, Mapping) and 'type' in hook:
                yield from _check_component(f'default_hooks.{name}', hook,
                                            HOOKS, scope)
    for index, hook in enumerate(_as_list(cfg.get('custom_hooks'))):
        if isinstance(hook, Mapping) and 'type' in hook:
            yield from _check_component(f'custom_hooks[{index}]', hook,
                                        HOOKS, scope)
    for where, metric in _metric_dicts(cfg):
        if 'type' in metric:
            yield from _check_component(where, metric, METRICS, scope)
    yield from _check_schedulers(cfg.get('param_scheduler'), scope)
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(section)
        if isinstance(loader, Mapping):
            yield from _check_loader(section, loader)
            yield from _check_samplers(section, loader, scope)


def _check_schedulers(schedulers: Any,
                      scope: Optional[str]) -> Iterator[Tuple[str, str]]:
    """Check ``param_scheduler``: one dict, a list of dicts, or a dict of
    such lists keyed by optimizer name (several optimizers)."""
    from vidft.registry import PARAM_SCHEDULERS

    if isinstance(schedulers, Mapping) and 'type' not in schedulers:
        groups = [(f'param_scheduler.{name}', value)
                  for name, value in schedulers.items()]
    else:
        groups = [('param_scheduler', schedulers)]
    for path, group in groups:
        for index, scheduler in enumerate(_as_list(group)):
            if not (isinstance(scheduler, Mapping) and 'type' in scheduler):
                continue
            where = (f'{path}[{index}]' if isinstance(group, (list, tuple))
                     else path)
            # mmengine's build function takes convert_to_iter_based out.
            yield from _check_component(
                where, scheduler, PARAM_SCHEDULERS, scope,
                build_keys=('convert_to_iter_based',))
            if 'param_name' in scheduler and _sets_param_name(
                    scheduler['type'], scope):
                yield (f'{where}.param_name',
                       f"{scheduler['type']} sets param_name itself; remove "
                       "it, or use a ParamScheduler type (such as "
                       "CosineAnnealingParamScheduler) to schedule another "
                       'parameter')


def _sets_param_name(kind: Any, scope: Optional[str]) -> bool:
    """Return whether the scheduler ``kind`` is one of mmengine's lr or
    momentum schedulers, which pass ``param_name`` to their base class."""
    from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
    from mmengine.optim.scheduler.momentum_scheduler import \
        MomentumSchedulerMixin

    from vidft.registry import PARAM_SCHEDULERS

    if isinstance(kind, str):
        try:
            with PARAM_SCHEDULERS.switch_scope_and_registry(scope) as found:
                kind = found.get(kind)
        except Exception:  # noqa: BLE001 an unknown type is reported above
            return False
    return isinstance(kind, type) and issubclass(
        kind, (LRSchedulerMixin, MomentumSchedulerMixin))


def _check_samplers(section: str, loader: Mapping[str, Any],
                    scope: Optional[str]) -> Iterator[Tuple[str, str]]:
    """Check the sampler and batch sampler dicts of a data loader."""
    from vidft.registry import DATA_SAMPLERS

    for key in ('sampler', 'batch_sampler'):
        sampler = loader.get(key)
        if isinstance(sampler, Mapping) and 'type' in sampler:
            yield from _check_component(f'{section}.{key}', sampler,
                                        DATA_SAMPLERS, scope)


def _num_classes(node: Any, path: str) -> Iterator[Tuple[str, int]]:
    """Yield the path and value of every int ``num_classes`` below ``node``."""
    if not isinstance(node, Mapping):
        return
    for key, value in node.items():
        where = f'{path}.{key}'
        if key == 'num_classes' and isinstance(value, int) \
                and not isinstance(value, bool):
            yield where, value
        else:
            yield from _num_classes(value, where)


def _check_topk(cfg: Config) -> Iterator[Tuple[str, str]]:
    """Report a top-k metric whose k exceeds the model's number of classes,
    which the metric would otherwise find only at the first validation."""
    found = dict(_num_classes(cfg.get('model'), 'model'))
    if len(set(found.values())) != 1:
        return  # no head, or heads of different sizes
    where, num_classes = next(iter(found.items()))
    for path, metric in _metric_dicts(cfg):
        topk = metric.get('topk')
        topk = (topk, ) if isinstance(topk, int) else topk
        if not isinstance(topk, (list, tuple)):
            continue
        too_large = [k for k in topk if isinstance(k, int) and
                     k > num_classes]
        if too_large:
            valid_topk = tuple(
                k for k in topk if k not in too_large) or (1, )
            yield (f'{path}.topk',
                   f'top-{too_large[0]} accuracy needs at least '
                   f'{too_large[0]} classes, but {where} is {num_classes}, '
                   f'so it would be 1.0 for any model; use topk={valid_topk}')


def _metric_dicts(cfg: Config) -> Iterator[Tuple[str, Mapping[str, Any]]]:
    """Yield the path and dict of each metric of the val and test
    evaluators, given as one metric, a list, or an Evaluator dict with
    ``metrics``."""
    for section in ('val_evaluator', 'test_evaluator'):
        evaluator = cfg.get(section)
        if isinstance(evaluator, Mapping) and 'metrics' in evaluator:
            evaluator = evaluator['metrics']
            section += '.metrics'
        for index, metric in enumerate(_as_list(evaluator)):
            if isinstance(metric, Mapping):
                yield (f'{section}[{index}]' if isinstance(
                    evaluator, (list, tuple)) else section), metric


def _resolves(kind: Any, registry: Any, scope: Optional[str]) -> bool:
    if not isinstance(kind, str):
        return True
    try:
        with registry.switch_scope_and_registry(scope) as found:
            found.get(kind)
    except Exception:  # noqa: BLE001 any failure means it does not resolve
        return False
    return True


def _as_list(value: Any) -> List[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _check_loader(section: str,
                  loader: Mapping[str, Any]) -> Iterator[Tuple[str, str]]:
    """Check a data loader dict: its keys are DataLoader arguments or keys
    that the Runner handles, and its worker settings fit together."""
    from torch.utils.data import DataLoader

    accepted = sorted(set(inspect.signature(DataLoader.__init__).parameters)
                      - {'self'} | set(LOADER_RUNNER_KEYS))
    for key in loader:
        if key not in accepted:
            yield f'{section}.{key}', _unknown_argument(DataLoader, key,
                                                         accepted)
    batch_size = loader.get('batch_size')
    if isinstance(batch_size, int) and not isinstance(batch_size, bool) \
            and batch_size < 1:
        yield (f'{section}.batch_size',
               f'expected a batch size >= 1, got {batch_size}')
    if loader.get('persistent_workers') and loader.get('num_workers', 0) == 0:
        yield (f'{section}.persistent_workers',
               'persistent workers need num_workers > 0; set '
               'persistent_workers=False to load in the main process')


def _argument_hints(cls: type) -> Dict[str, Any]:
    """Return the type hints of the keyword arguments of ``cls(...)``,
    following ``**kwargs`` up the parent classes as
    :func:`_accepted_arguments` does; a subclass's hint wins."""
    hints: Dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            found = typing.get_type_hints(init)
            parameters = inspect.signature(init).parameters
        except Exception:  # noqa: BLE001 unresolvable hints are skipped
            return hints
        for name, hint in found.items():
            hints.setdefault(name, hint)
        if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD
                   for parameter in parameters.values()):
            break
    hints.pop('return', None)
    return hints


def _matches_hint(value: Any, hint: Any) -> Optional[bool]:
    """Return whether ``value`` fits the type hint ``hint``, or None when
    the hint is not one of the simple kinds checked here (then nothing is
    reported). A str passes for a sequence hint, as configs often give one
    name."""
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, (str, os.PathLike))
    origin = typing.get_origin(hint) or hint
    if origin is Union:
        results = [_matches_hint(value, arg) for arg in typing.get_args(hint)]
        if any(results):
            return True
        return False if all(r is False for r in results) else None
    if origin in (list, tuple, collections.abc.Sequence):
        return isinstance(value, (list, tuple, str))
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, Mapping)
    return None


def _hint_name(hint: Any) -> str:
    if typing.get_origin(hint) is Union:
        return ' or '.join(_hint_name(arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return 'None'
    name = getattr(hint, '__name__', None) or str(hint)
    return name.replace('typing.', '')


def _check_dataset_arguments(cfg: Config) -> Iterator[Tuple[str, str]]:
    """Report keys of each dataloader's dataset that its class does not
    take (``frame_rang`` for ``frame_range``), which would otherwise pass
    until the Runner builds the dataset and stop it with a bare TypeError.
    Datasets inside wrappers (``dataset`` of ``RepeatDataset``, each of
    ``datasets`` of ``ConcatDataset``) are checked too. A type that is not
    registered is reported with the closest registered names. A type that
    fails to resolve for another reason is left to the build."""
    for section in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(section)
        if not isinstance(loader, Mapping):
            continue  # the schema check reports a loader that is not a dict
        yield from _check_dataset_node(f'{section}.dataset',
                                       loader.get('dataset'),
                                       cfg.get('default_scope'))


def _check_dataset_node(path: str, dataset: Any,
                        scope: Optional[str]) -> Iterator[Tuple[str, str]]:
    from vidft.registry import DATASETS, TRANSFORMS

    if not isinstance(dataset, Mapping) or 'type' not in dataset:
        return
    scope = dataset.get('_scope_', scope)
    yield from _check_component(path, dataset, DATASETS, scope)
    pipeline = dataset.get('pipeline')
    if isinstance(pipeline, (list, tuple)):
        for index, transform in enumerate(pipeline):
            if isinstance(transform, Mapping) and 'type' in transform:
                yield from _check_component(f'{path}.pipeline[{index}]',
                                            transform, TRANSFORMS, scope)
    # Wrapped datasets, checked whether or not the wrapper resolved.
    yield from _check_dataset_node(f'{path}.dataset', dataset.get('dataset'),
                                   scope)
    inner = dataset.get('datasets')
    if isinstance(inner, (list, tuple)):
        for index, child in enumerate(inner):
            yield from _check_dataset_node(f'{path}.datasets[{index}]',
                                           child, scope)


def _prefix_is_plugin(kind: str) -> bool:
    """Return whether ``kind`` has no scope prefix or that of an installed
    plugin or core scope, so that an unknown type is the type's fault."""
    from .. import plugins

    if '.' not in kind:
        return True
    prefix = kind.split('.', 1)[0]
    return prefix in CORE_SCOPES or prefix in plugins.discover()


def _classify_top_level(name: str) -> Optional[str]:
    """Return why ``name`` is not allowed at the top level, or None."""
    if name in schema.ACCEPTED_KEYS:
        return None
    if name in schema.LEGACY_KEYS:
        return ('key of mmcv 1.x / mmaction2 0.x configs that mmengine\'s '
                f'Runner does not read; use {schema.LEGACY_KEYS[name]} '
                'instead')

    accepted = list(schema.ACCEPTED_KEYS)
    if schema.is_helper_name(name):
        close = difflib.get_close_matches(
            name.lstrip('_'), accepted, n=1, cutoff=schema.HELPER_CUTOFF)
        if not close:
            return None
        return (f"helper name too close to the config key '{close[0]}'; "
                f'write {close[0]} if that is what you meant, or rename the '
                'helper')

    close = difflib.get_close_matches(name, accepted, n=3,
                                      cutoff=schema.SUGGESTION_CUTOFF)
    if close:
        options = ' or '.join(repr(key) for key in close)
        reason = f'unknown top-level key; did you mean {options}?'
        if _classify_top_level(f'_{name}') is None:
            reason += f" A helper variable needs a name such as '_{name}'."
        return reason
    return ('unknown top-level key. If it is a helper variable that other '
            f"settings refer to, rename it to '_{name}'; helper names start "
            "with '_' or follow the mmaction2 rule (*_pipeline, *_type, "
            '*_args, data_root*, ann_file*)')


def _check_value(path: str, value: Any,
                 spec: Any) -> Iterator[Tuple[str, str]]:
    """Check ``value`` at ``path`` against its yacs ``spec`` and KINDS."""
    if value is None:
        if path in schema.NOT_NULL:
            yield path, f'expected {_expected_name(path, spec)}, got None'
        return

    kinds = schema.KINDS.get(path)
    if kinds is not None and not isinstance(value, kinds):
        names = ' or '.join(kind.__name__ for kind in kinds)
        yield path, f'expected {names}, got {_describe(value)}'
        return

    if isinstance(spec, CfgNode):
        yield from _check_section(path, value, spec)
    elif spec is not None:
        yield from _check_leaf(path, value, spec)


def _check_section(path: str, value: Any,
                   spec: CfgNode) -> Iterator[Tuple[str, str]]:
    if not isinstance(value, dict):
        yield path, f'expected dict, got {_describe(value)}'
        return
    allowed = set(spec) | _kinds_below(path)
    for key, child in value.items():
        child_path = f'{path}.{key}'
        if key in spec or child_path in schema.KINDS:
            yield from _check_value(child_path, child, spec.get(key))
        elif not spec.is_new_allowed():
            close = difflib.get_close_matches(
                str(key), sorted(allowed), n=1,
                cutoff=schema.SUGGESTION_CUTOFF)
            hint = f"did you mean '{close[0]}'? " if close else ''
            yield child_path, (f'unknown key; {hint}{path} accepts: '
                               f"{', '.join(sorted(allowed))}")


def _check_leaf(path: str, value: Any,
                exemplar: Any) -> Iterator[Tuple[str, str]]:
    fits = isinstance(exemplar, float) and type(value) is int
    if not fits:
        try:
            _check_and_coerce_cfg_value_type(value, exemplar, path, path)
            fits = True
        except ValueError:
            fits = False
    if not fits:
        message = (f'expected {type(exemplar).__name__}, '
                   f'got {_describe(value)}')
        if path in schema.TYPE_HINTS:
            message += f'; {schema.TYPE_HINTS[path]}'
        yield path, message
        return

    choices = schema.CHOICES.get(path)
    if choices is not None and value not in choices:
        yield path, (f"expected one of {', '.join(map(repr, choices))}, "
                     f'got {value!r}')


def _kinds_below(path: str) -> Set[str]:
    prefix = path + '.'
    return {key[len(prefix):] for key in schema.KINDS
            if key.startswith(prefix) and '.' not in key[len(prefix):]}


def _expected_name(path: str, spec: Any) -> str:
    if isinstance(spec, CfgNode):
        return 'dict'
    if path in schema.KINDS:
        return ' or '.join(kind.__name__ for kind in schema.KINDS[path])
    return type(spec).__name__ if spec is not None else 'a value'


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > MAX_VALUE_REPR:
        text = text[:MAX_VALUE_REPR - 3] + '...'
    return f'{type(value).__name__} {text}'


def _check_legacy_nested(cfg: Config) -> Iterator[Tuple[str, str]]:
    for path, replacement in schema.LEGACY_NESTED_KEYS.items():
        parent_key, child_key = path.rsplit('.', 1)
        parent = cfg.get(parent_key)
        if isinstance(parent, dict) and child_key in parent:
            yield path, ('key of mmaction2 0.x configs that this place no '
                         f'longer reads; move it to {replacement}')


def _check_scopes(cfg: Config) -> Iterator[Tuple[str, str]]:
    """Check ``default_scope``, ``_scope_`` and ``type`` prefixes.

    A scope is known when it is vidft's or mmengine's, an installed plugin,
    a scope already in the registry tree, or an importable package (a full
    import path such as ``torch.optim.SGD`` or another OpenMMLab library).
    """
    from .. import plugins

    installed = sorted(plugins.discover())
    registered = _registered_scopes()
    known: Dict[str, bool] = {}

    def exists(scope: str) -> bool:
        if scope not in known:
            known[scope] = (
                scope in CORE_SCOPES or scope in installed
                or scope in registered or (
                    scope.isidentifier()
                    and importlib.util.find_spec(scope) is not None))
        return known[scope]

    def problem(scope: str) -> str:
        candidates = list(CORE_SCOPES) + installed
        close = difflib.get_close_matches(scope, candidates, n=1,
                                          cutoff=schema.SUGGESTION_CUTOFF)
        hint = f"Did you mean '{close[0]}'? " if close else ''
        return (f"unknown scope '{scope}'; it is not vidft, mmengine, an "
                'installed plugin, a registered scope or an importable '
                f"package. {hint}Installed plugins: "
                f"{', '.join(installed) or 'none'}")

    default_scope = cfg.get('default_scope')
    if isinstance(default_scope, str) and not exists(default_scope):
        yield 'default_scope', problem(default_scope)

    for path, key, value in _scope_references(dict(cfg)):
        scope = value if key == '_scope_' else value.split('.', 1)[0]
        if key == 'type' and '.' not in value:
            continue
        if not exists(scope):
            yield f'{path}.{key}', problem(scope)


def _registered_scopes() -> Set[str]:
    """Scopes in mmengine's model registry tree.

    Besides plugins, this covers scopes registered by modules that the
    config's ``custom_imports`` imported (``scoped_registries('mylab')``).
    """
    from mmengine.registry import MODELS

    scopes: Set[str] = set()
    pending = [MODELS]
    while pending:
        node = pending.pop()
        scopes.add(node.scope)
        pending.extend(node.children.values())
    return scopes


def _scope_references(node: Any, path: str = ''
                      ) -> Iterator[Tuple[str, str, str]]:
    """Yield ``(path, key, value)`` for every str ``type`` and ``_scope_``."""
    if isinstance(node, dict):
        for key, value in node.items():
            child_path = f'{path}.{key}' if path else str(key)
            if key in ('type', '_scope_') and isinstance(value, str) and path:
                yield path, key, value
            else:
                yield from _scope_references(value, child_path)
    elif isinstance(node, (list, tuple)):
        for index, item in enumerate(node):
            yield from _scope_references(item, f'{path}.{index}')


def _annotate(problems: List[Tuple[str, str]],
              overrides: Mapping[str, str]) -> List[Tuple[str, str]]:
    """Append the ``--cfg-options`` item that caused each problem."""
    annotated = []
    for key, reason in problems:
        # Problems name list items as hooks[0], and --cfg-options as hooks.0.
        dotted = re.sub(r'\[(\d+)\]', r'.\1', key)
        sources = [
            f'{option}={text}' for option, text in overrides.items()
            if option == dotted or option.startswith(dotted + '.')
            or dotted.startswith(option + '.')
        ]
        if sources:
            reason += f" (from --cfg-options {' '.join(sources)})"
        annotated.append((key, reason))
    return annotated
