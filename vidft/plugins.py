"""Discovery and lazy loading of task plugins.

A plugin is an importable module named by an entry point in the group
``vidft.plugins``. The entry-point name is the plugin's scope: components it
registers are reached as ``'<name>.<Component>'`` and ``default_scope='<name>'``
selects it. Importing the module registers its components, through the
registries returned by :func:`vidft.registry.scoped_registries`.

Plugins load lazily: ``import vidft`` loads none. One loads the first time a
registry look-up, a config or ``vidft plugins`` names its scope. A plugin that
fails to import is remembered with its error, its half-made registries are
detached, and the other plugins keep working. Names listed in the environment
variable ``VIDFT_DISABLE_PLUGINS`` (comma-separated) are never loaded.
"""
import logging
import os
import traceback
from dataclasses import dataclass, field
from importlib import import_module, metadata
from typing import Any, Dict, Iterable, List, Optional, Set

ENTRY_POINT_GROUP = 'vidft.plugins'
DISABLE_ENV = 'VIDFT_DISABLE_PLUGINS'

logger = logging.getLogger(__name__)


class PluginError(ImportError):
    """A plugin that could not be used; ``plugin`` names it."""

    def __init__(self, plugin: str, message: str) -> None:
        super().__init__(message)
        self.plugin = plugin


@dataclass
class PluginInfo:
    """What vidft knows about one installed plugin."""

    name: str
    module: str
    distribution: str
    version: str
    status: str = 'not loaded'  # not loaded | loaded | failed | disabled
    error: Optional[str] = None
    traceback: Optional[str] = None
    components: Dict[str, int] = field(default_factory=dict)


_plugins: Optional[Dict[str, PluginInfo]] = None


def disabled_names() -> Set[str]:
    """Plugin names listed in ``VIDFT_DISABLE_PLUGINS``."""
    raw = os.environ.get(DISABLE_ENV, '')
    return {name.strip() for name in raw.split(',') if name.strip()}


def _entry_points() -> Iterable[metadata.EntryPoint]:
    return metadata.entry_points(group=ENTRY_POINT_GROUP)


def discover(refresh: bool = False) -> Dict[str, PluginInfo]:
    """Return every installed plugin by name, without importing any.

    ``refresh=True`` reads the entry points again (after a ``pip install`` in
    the same process); plugins already loaded keep their state.
    """
    global _plugins
    if _plugins is not None and not refresh:
        return _plugins

    found: Dict[str, PluginInfo] = {}
    for entry_point in _entry_points():
        dist = entry_point.dist
        info = PluginInfo(
            name=entry_point.name,
            module=entry_point.value,
            distribution=dist.metadata['Name'] if dist else '<unknown>',
            version=dist.version if dist else '<unknown>')
        if info.name in found:
            first = found[info.name]
            if (first.distribution, first.module) == (info.distribution,
                                                      info.module):
                continue  # the same distribution seen twice on sys.path
            first.status = 'failed'
            first.error = (
                f"plugin name '{info.name}' is declared by both "
                f'{first.distribution} ({first.module}) and '
                f'{info.distribution} ({info.module}); uninstall one of them')
            continue
        found[info.name] = info

    # Loaded and failed plugins keep their state: a module cannot be
    # un-imported. The others follow the current VIDFT_DISABLE_PLUGINS.
    disabled = disabled_names()
    for name, info in found.items():
        previous = (_plugins or {}).get(name)
        if previous is not None and previous.status in ('loaded', 'failed'):
            found[name] = previous
        elif name in disabled:
            info.status = 'disabled'
    _plugins = found
    return found


def load_plugin(name: str) -> PluginInfo:
    """Import plugin ``name`` once and return its info.

    Raises:
        PluginError: the plugin is not installed, is disabled, or failed to
            import (now or earlier in this process); the message carries the
            original error.
    """
    plugins = discover()
    info = plugins.get(name)
    if info is None:
        installed = ', '.join(sorted(plugins)) or 'none'
        raise PluginError(
            name, f"no vidft plugin named '{name}' is installed (entry-point "
            f"group '{ENTRY_POINT_GROUP}'); installed plugins: {installed}")
    if info.status == 'loaded':
        return info
    if info.status == 'disabled':
        raise PluginError(
            name, f"plugin '{name}' is disabled by {DISABLE_ENV}="
            f"{os.environ.get(DISABLE_ENV, '')!r}; remove it from that "
            'variable to use it')
    if info.status == 'failed':
        raise PluginError(name, f"plugin '{name}' failed to load: "
                          f'{info.error}')

    from . import registry
    try:
        import_module(info.module)
    except Exception as exc:  # a broken plugin must not take vidft down
        registry.drop_scope(name)
        info.status = 'failed'
        info.error = f'{type(exc).__name__}: {exc}'
        info.traceback = traceback.format_exc()
        raise PluginError(name, f"plugin '{name}' ({info.distribution} "
                          f'{info.version}) failed to load: {info.error}'
                          ) from exc
    info.status = 'loaded'
    info.components = registry.count_components(name)
    logger.debug('loaded plugin %s from %s %s', name, info.distribution,
                 info.version)
    return info


def load_scope(scope: str) -> None:
    """Load the plugin named ``scope``, if one is installed.

    A scope that no plugin has is left to the registry look-up, which reports
    it. A scope whose plugin is broken or disabled raises :class:`PluginError`.
    """
    if scope in discover():
        load_plugin(scope)


def load_all() -> List[PluginInfo]:
    """Try to load every installed plugin; failures stay in their info."""
    for name, info in discover().items():
        if info.status == 'not loaded':
            try:
                load_plugin(name)
            except PluginError as exc:
                # Reported here because load_all() does not re-raise.
                logger.warning('%s', exc)
    return list(discover().values())


def find_providers(component: str, registry_name: str) -> List[str]:
    """Names of loadable plugins whose ``registry_name`` has ``component``.

    Loads the plugins that are not loaded yet, so call it on error paths only.
    """
    from . import registry as registry_module

    load_all()
    providers = []
    for name, info in discover().items():
        if info.status != 'loaded':
            continue
        namespace = registry_module._scoped.get(name)
        if namespace is None:
            continue
        for child in vars(namespace).values():
            if child.name == registry_name and component in child.module_dict:
                providers.append(name)
    return providers


def scopes_in_config(cfg: Any) -> Set[str]:
    """Collect the scopes a config refers to.

    These are ``default_scope``, ``_scope_`` keys and the prefix of every
    dotted ``type`` string. Only names of installed plugins are returned.
    """
    installed = discover()
    scopes: Set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ('type', 'default_scope', '_scope_') and isinstance(
                        value, str):
                    scopes.add(value.split('.', 1)[0])
                visit(value)
        elif isinstance(node, (list, tuple)):
            for item in node:
                visit(item)

    visit(dict(cfg))
    return {scope for scope in scopes if scope in installed}


def load_for_config(cfg: Any) -> List[PluginInfo]:
    """Load every plugin that ``cfg`` refers to; raise on a broken one."""
    return [load_plugin(scope) for scope in sorted(scopes_in_config(cfg))]
