"""Config loading and validation for vidft.

A vidft config is an mmengine Python config (``_base_`` inheritance,
``--cfg-options a.b=1`` overrides). :func:`load_config` loads one, applies
the overrides, validates it with :func:`validate_config` and loads the
plugins it names. Invalid configs raise :class:`ConfigError`, which names
each bad key and the fix. The accepted keys, the typed keys and the rule for
helper variables are documented in :mod:`vidft.config.schema`.
"""
from .loading import load_config, parse_cfg_options
from .validation import ConfigError, validate_config

__all__ = ['ConfigError', 'load_config', 'parse_cfg_options',
           'validate_config']
