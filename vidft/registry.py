"""Registries of vidft, built on :class:`mmengine.registry.Registry`.

Layout of the registry tree::

    mmengine root (scope 'mmengine')
      └── vidft registry (scope 'vidft')          MODELS, DATASETS, HOOKS, ...
            └── plugin registry (scope 'recognition', 'vsr', ...)

Because every vidft registry is a child of the matching mmengine root registry,
mmengine's ``Runner`` builds vidft components once ``default_scope`` is
``'vidft'`` or a plugin scope. A component of a plugin is named
``'<scope>.<Name>'`` (``type='vsr.BasicVSR'``); naming a scope loads the plugin
that provides it (see :mod:`vidft.plugins`).

BACKBONES, NECKS, HEADS and LOSSES are roots of their own (scope 'vidft') so
that a depth-first search for a plugin scope from mmengine's MODELS root always
finds the plugin's MODELS child, never its backbone child. A look-up that
misses in one of them falls back to MODELS, so any model component can serve as
a backbone, head or loss.
"""
import difflib
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any, Dict, Generator, Iterable, List, Optional, Type, Union

from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import Registry, build_model_from_cfg
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS

CORE_SCOPE = 'vidft'

# Number of close names an unknown-type error suggests.
MAX_SUGGESTIONS = 3


class DuplicateRegistrationError(KeyError):
    """A name registered twice in one registry without ``force=True``."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class UnknownTypeError(KeyError):
    """A ``type`` that no registry in reach provides."""

    def __str__(self) -> str:
        return str(self.args[0])


def _registrant(obj: Any) -> str:
    module = getattr(obj, '__module__', None) or '<unknown module>'
    name = getattr(obj, '__qualname__', None) or getattr(obj, '__name__', repr(obj))
    return f'{module}.{name}'


class VidftRegistry(Registry):
    """An mmengine registry with vidft's errors and plugin loading.

    Differences from :class:`mmengine.registry.Registry`:

    * registering a name twice raises :class:`DuplicateRegistrationError`
      naming the registry and both registrants (pass ``force=True`` to
      override on purpose);
    * a key with a scope prefix (``'vsr.BasicVSR'``) loads the plugin of that
      scope before the look-up;
    * a miss raises :class:`UnknownTypeError` that names the registry, suggests
      close names and the plugin that provides the name, where one does;
    * ``fallback`` names another registry searched after this one and its
      parents (BACKBONES, NECKS, HEADS and LOSSES fall back to MODELS).
    """

    def __init__(self, name: str, *args: Any,
                 fallback: Optional[Registry] = None, **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.fallback = fallback

    @property
    def full_name(self) -> str:
        return f'{self.scope}::{self.name}'

    def _register_module(self, module: Type,
                         module_name: Optional[Union[str, List[str]]] = None,
                         force: bool = False) -> None:
        names = module_name or getattr(module, '__name__', None)
        if isinstance(names, str):
            names = [names]
        for name in names or []:
            existing = self._module_dict.get(name)
            if not force and existing is not None and existing is not module:
                raise DuplicateRegistrationError(
                    f"'{name}' is already registered in the {self.full_name} "
                    f'registry by {_registrant(existing)}; '
                    f'{_registrant(module)} cannot register it again. Rename '
                    'one of them, or pass force=True to register_module() to '
                    'replace the first one on purpose.')
        # Re-registering the same object (a re-imported module) is harmless.
        super()._register_module(module, module_name, force=True)

    def import_from_location(self) -> None:
        # mmengine imports only the locations of the registry whose get() is
        # called. A plugin registry that falls back to its parents needs
        # theirs too.
        registry: Optional[Registry] = self
        while registry is not None:
            Registry.import_from_location(registry)
            registry = registry.parent
        if self.fallback is not None:
            self.fallback.import_from_location()

    def get(self, key: str) -> Optional[Type]:
        if not isinstance(key, str):
            raise TypeError(f'expected a str key for the {self.full_name} '
                            f'registry, got {type(key).__name__}')
        scope, real_key = self.split_scope_key(key)
        if scope is not None and scope != self.scope:
            from . import plugins
            plugins.load_scope(scope)

        obj = self._lookup(key)
        if obj is None and scope is None and self.fallback is not None:
            obj = self.fallback._lookup(key) if isinstance(
                self.fallback, VidftRegistry) else self.fallback.get(key)
        if obj is None:
            raise UnknownTypeError(self._unknown_type_message(key))
        return obj

    def _lookup(self, key: str) -> Optional[Type]:
        try:
            return super().get(key)
        except RuntimeError:
            # mmengine raises RuntimeError when the key is not an importable
            # dotted path either. For vidft that is an ordinary miss.
            return None
        except UnknownTypeError:
            return None

    @contextmanager
    def switch_scope_and_registry(
            self, scope: Optional[str]) -> Generator[Registry, None, None]:
        if scope is not None and scope != self.scope:
            from . import plugins
            plugins.load_scope(scope)
        with super().switch_scope_and_registry(scope) as registry:
            yield registry

    def known_names(self) -> List[str]:
        """Names reachable from this registry without a scope prefix."""
        names = []
        registry: Optional[Registry] = self
        while registry is not None:
            names.extend(registry.module_dict)
            registry = registry.parent
        if self.fallback is not None:
            names.extend(self.fallback.module_dict)
        return sorted(set(names))

    def _unknown_type_message(self, key: str) -> str:
        scope, real_key = self.split_scope_key(key)
        message = f"'{key}' is not registered in the {self.full_name} registry"

        searched: Optional[Registry] = self
        if scope is not None and scope != self.scope:
            searched = self._get_root_registry()._search_child(scope)
            from . import plugins
            if searched is None and scope not in plugins.discover():
                names = sorted(plugins.discover()) or ['none installed']
                return (f"{message}: no plugin has the scope '{scope}'. "
                        f"Installed plugins: {', '.join(names)}. Fix the "
                        "prefix of 'type', or install the package that "
                        'provides the plugin.')
        if isinstance(searched, VidftRegistry) and searched is not self:
            message = (f"'{key}' is not registered in the "
                       f'{searched.full_name} registry')
        names = (searched.known_names() if isinstance(searched, VidftRegistry)
                 else sorted(searched.module_dict) if searched is not None
                 else [])
        # Spell each suggestion so that it resolves from this registry, because
        # mmengine finds an inherited name under a prefix only from other scopes.
        spellings: Dict[str, str] = {}
        for name in names:
            for spelled in ((f'{scope}.{name}', name) if scope else (name,)):
                if self._lookup(spelled) is not None:
                    spellings[name] = spelled
                    break
        close = difflib.get_close_matches(
            real_key, list(spellings), n=MAX_SUGGESTIONS, cutoff=0.6)
        if close:
            message += ('. Did you mean '
                        f"{' or '.join(repr(spellings[c]) for c in close)}?")
        else:
            message += '.'

        from . import plugins
        providers = plugins.find_providers(real_key, self.name)
        if providers:
            options = ', '.join(f"type='{p}.{real_key}'" for p in providers)
            message += (f" Plugin {', '.join(repr(p) for p in providers)} "
                        f'provides it: write {options}, or set '
                        "default_scope to the plugin's name.")
        return message


def _child(name: str, parent: Registry, locations: Iterable[str] = ()
           ) -> VidftRegistry:
    return VidftRegistry(name, parent=parent, scope=CORE_SCOPE,
                         locations=list(locations))


# Registries that mmengine's Runner builds from. Their locations make the
# config check find mmengine's own samplers, schedulers and loops.
MODELS = VidftRegistry('model', parent=MMENGINE_MODELS, scope=CORE_SCOPE,
                       build_func=build_model_from_cfg,
                       locations=['vidft.models'])
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS,
                        ['mmengine.model'])
DATASETS = _child('dataset', MMENGINE_DATASETS, ['vidft.data.datasets'])
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS,
                       ['mmengine.dataset'])
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS, ['vidft.data.transforms'])
METRICS = _child('metric', MMENGINE_METRICS, ['vidft.evaluation'])
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR, ['mmengine.evaluator'])
HOOKS = _child('hook', MMENGINE_HOOKS,
               ['vidft.engine.hooks', 'vidft.finetune.hooks', 'vidft.data.hooks'])
LOOPS = _child('loop', MMENGINE_LOOPS, ['mmengine.runner'])
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS, ['mmengine.optim'])
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS,
                        ['vidft.engine.optim_wrappers'])
OPTIM_WRAPPER_CONSTRUCTORS = _child(
    'optimizer wrapper constructor', MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    ['vidft.finetune.param_groups'])
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS,
                          ['mmengine.optim'])
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS)
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS)
LOG_PROCESSORS = _child('log_processor', MMENGINE_LOG_PROCESSORS)
INFERENCERS = _child('inferencer', MMENGINE_INFERENCERS)
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS)
RUNNERS = _child('runner', MMENGINE_RUNNERS, ['vidft.engine.runner'])

# Model parts: roots of their own that fall back to MODELS (see module doc).
BACKBONES = VidftRegistry('backbone', scope=CORE_SCOPE, fallback=MODELS,
                          build_func=build_model_from_cfg,
                          locations=['vidft.models.backbones'])
NECKS = VidftRegistry('neck', scope=CORE_SCOPE, fallback=MODELS,
                      build_func=build_model_from_cfg)
HEADS = VidftRegistry('head', scope=CORE_SCOPE, fallback=MODELS,
                      build_func=build_model_from_cfg,
                      locations=['vidft.models.heads'])
LOSSES = VidftRegistry('loss', scope=CORE_SCOPE, fallback=MODELS,
                       build_func=build_model_from_cfg,
                       locations=['vidft.models.losses'])

#: Every vidft registry by the constant name plugins use.
REGISTRIES: Dict[str, VidftRegistry] = {
    'MODELS': MODELS,
    'BACKBONES': BACKBONES,
    'NECKS': NECKS,
    'HEADS': HEADS,
    'LOSSES': LOSSES,
    'MODEL_WRAPPERS': MODEL_WRAPPERS,
    'DATASETS': DATASETS,
    'DATA_SAMPLERS': DATA_SAMPLERS,
    'TRANSFORMS': TRANSFORMS,
    'METRICS': METRICS,
    'EVALUATOR': EVALUATOR,
    'HOOKS': HOOKS,
    'LOOPS': LOOPS,
    'OPTIMIZERS': OPTIMIZERS,
    'OPTIM_WRAPPERS': OPTIM_WRAPPERS,
    'OPTIM_WRAPPER_CONSTRUCTORS': OPTIM_WRAPPER_CONSTRUCTORS,
    'PARAM_SCHEDULERS': PARAM_SCHEDULERS,
    'VISUALIZERS': VISUALIZERS,
    'VISBACKENDS': VISBACKENDS,
    'LOG_PROCESSORS': LOG_PROCESSORS,
    'INFERENCERS': INFERENCERS,
    'FUNCTIONS': FUNCTIONS,
    'RUNNERS': RUNNERS,
}

_scoped: Dict[str, SimpleNamespace] = {}


def scoped_registries(scope: str,
                      locations: Optional[Dict[str, List[str]]] = None
                      ) -> SimpleNamespace:
    """Return the child registries of ``scope``, creating them once.

    A plugin calls this with its entry-point name and registers into the
    returned registries (``R.MODELS.register_module()``). The namespace has
    one attribute per key of :data:`REGISTRIES`. ``locations`` maps such a
    key to modules imported the first time that registry is searched.
    """
    if not scope.isidentifier() or scope == CORE_SCOPE:
        raise ValueError(f"expected a plugin scope that is a Python "
                         f"identifier other than '{CORE_SCOPE}', got "
                         f'{scope!r}')
    if scope in _scoped:
        return _scoped[scope]
    locations = locations or {}
    unknown = set(locations) - set(REGISTRIES)
    if unknown:
        raise KeyError(f'unknown registry names in locations: '
                       f'{sorted(unknown)}; valid names: {sorted(REGISTRIES)}')
    children = {
        key: VidftRegistry(parent.name, parent=parent, scope=scope,
                           locations=locations.get(key, []))
        for key, parent in REGISTRIES.items()
    }
    # mmengine's root registries resolve 'scope.Name' through their direct
    # children only. Listing the plugin registry there as well lets code
    # that builds from mmengine's roots without a default scope (BaseModel
    # building its data preprocessor, BaseDataset building its pipeline)
    # find plugin components. The plugin registry's parent stays vidft's.
    for child in children.values():
        root = child.parent.parent if child.parent is not None else None
        if root is not None:
            root._children.setdefault(scope, child)
    _scoped[scope] = SimpleNamespace(**children)
    return _scoped[scope]


def drop_scope(scope: str) -> None:
    """Detach the registries of ``scope`` from the tree.

    Used when a plugin fails halfway through registering, so that a later
    look-up sees no half-registered plugin.
    """
    namespace = _scoped.pop(scope, None)
    if namespace is None:
        return
    for registry in vars(namespace).values():
        parent = registry.parent
        root = parent.parent if parent is not None else None
        for holder in (parent, root):
            if holder is not None and holder._children.get(scope) is registry:
                del holder._children[scope]


def count_components(scope: str) -> Dict[str, int]:
    """Count what ``scope`` registered, by registry name (non-zero only)."""
    namespace = _scoped.get(scope)
    if namespace is None:
        return {}
    counts = {}
    for registry in vars(namespace).values():
        if len(registry.module_dict):
            counts[registry.name] = len(registry.module_dict)
    return counts
