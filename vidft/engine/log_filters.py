"""Logging filters for messages of mmengine that do not apply to vidft.

mmengine 0.10.7 imports ``<scope>.registry`` whenever it switches to a
registry scope and logs "Failed to import `<scope>.registry` ..." at WARNING
when that module does not exist. A vidft plugin scope (``'recognition'``) is
not a package name: its registries come from :mod:`vidft.plugins`, so the
warning is wrong for it. When the switch goes to the default scope, mmengine
names the scope argument in the message, which is None: the message then
reads "Failed to import `None.registry`" while the import that failed was
that of the default scope.
"""
import logging
from typing import Iterable, Optional, Tuple

from mmengine.registry import DefaultScope

from vidft import plugins


def _import_warning(scope: Optional[str]) -> str:
    return f'Failed to import `{scope}.registry`'


class PluginScopeImportFilter(logging.Filter):
    """Drop mmengine's "Failed to import `<scope>.registry`" WARNING for the
    installed vidft plugin scopes only."""

    def __init__(self, scopes: Iterable[str]) -> None:
        super().__init__()
        self.scopes = frozenset(scopes)
        self.prefixes: Tuple[str, ...] = tuple(
            _import_warning(scope) for scope in sorted(self.scopes))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING or not self.scopes:
            return True
        message = str(record.msg)
        if message.startswith(self.prefixes):
            return False
        if message.startswith(_import_warning(None)):
            current = DefaultScope.get_current_instance()
            return current is None or current.scope_name not in self.scopes
        return True


def install_scope_warning_filter(logger: logging.Logger) -> None:
    """Attach a :class:`PluginScopeImportFilter` for the installed plugins to
    ``logger``, replacing one attached before."""
    for old in [f for f in logger.filters
                if isinstance(f, PluginScopeImportFilter)]:
        logger.removeFilter(old)
    logger.addFilter(PluginScopeImportFilter(plugins.discover()))
