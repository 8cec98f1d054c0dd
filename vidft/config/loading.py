"""Loading a config file, applying ``--cfg-options`` and loading plugins."""
import argparse
import logging
import os.path as osp
import re
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from mmengine.config import Config, DictAction

from .validation import ConfigError, validate_config

logger = logging.getLogger(__name__)

CfgOptions = Union[None, Mapping[str, Any], Sequence[str]]

# mmengine's parser of one KEY=VALUE item; it ignores its parser argument.
_OPTION_PARSER = DictAction(option_strings=['--cfg-options'],
                            dest='cfg_options')


def load_config(path: str, cfg_options: CfgOptions = None) -> Config:
    """Load a Python config, apply overrides, validate it and load plugins.

    ``path`` is an mmengine config file; its ``_base_`` files are merged
    first. ``cfg_options`` overrides keys, either as a dict from dotted key
    to value or as ``KEY=VALUE`` strings parsed like mmengine's
    ``--cfg-options`` (``a.b=1``, ``a.b=[1,2]``, ``a.b=None``). Plugins
    whose scope the config names are imported last.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file is not valid Python, an override is
            malformed or the merged config is invalid (see
            :func:`validate_config`).
        vidft.plugins.PluginError: a plugin that the config names is
            disabled or fails to import.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as error:
        # mmengine parses the text without a file name, so the traceback
        # would show "<unknown>" in place of the file.
        raise ConfigError([('syntax', (
            f'line {error.lineno}: {error.msg} (in this file or one of its '
            '_base_ files); fix the Python syntax'))], source=path) from error

    values, texts = _parse_options(cfg_options, source=path)
    for key, value in values.items():
        try:
            cfg.merge_from_dict({key: value}, allow_list_keys=True)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ConfigError(
                [(key, f'cannot apply --cfg-options {key}={texts[key]}: '
                  f'{exc}{_list_hint(cfg, key)}')], source=path) from exc

    validate_config(cfg, overrides=texts)

    from .. import plugins
    loaded = plugins.load_for_config(cfg)
    logger.debug('loaded config %s with %d overrides and plugins %s', path,
                 len(values), [info.name for info in loaded])
    return cfg


def _list_hint(cfg: Config, key: str) -> str:
    """Return a hint when ``key`` gives a field name where ``cfg`` has a
    list, which needs an item index (``val_evaluator.type`` for a list of
    metrics), else an empty string."""
    node: Any = cfg
    parts = key.split('.')
    for depth, part in enumerate(parts):
        if isinstance(node, (list, tuple)):
            if part.isdigit():
                node = node[int(part)] if int(part) < len(node) else None
                continue
            prefix = '.'.join(parts[:depth])
            rest = '.'.join(parts[depth:])
            return (f'. {prefix} is a list of {len(node)} here; name an item '
                    f'by its index, e.g. {prefix}.0.{rest}')
        if not isinstance(node, (dict, Config)) or part not in node:
            return ''
        node = node[part]
    return ''


def parse_cfg_options(items: Sequence[str]) -> Dict[str, Any]:
    """Parse ``KEY=VALUE`` strings the way mmengine's ``--cfg-options`` does.

    Values become int, float, bool, None, lists (``1,2`` or ``[1,2]``) or
    tuples (``(1,2)``); anything else stays a str.
    """
    return _parse_options(items, source=None)[0]


def _parse_options(options: CfgOptions, source: Optional[str]
                   ) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Return the parsed values and the text of each, both by key."""
    if options is None:
        return {}, {}
    if isinstance(options, Mapping):
        return dict(options), {key: repr(value)
                               for key, value in options.items()}
    if isinstance(options, str):
        raise ConfigError([('--cfg-options', 'expected a list of KEY=VALUE '
                            f'strings or a dict, got the str {options!r}')],
                          source=source)

    values: Dict[str, Any] = {}
    texts: Dict[str, str] = {}
    for item in options:
        key, sep, text = item.partition('=')
        if not sep or not key:
            raise ConfigError([('--cfg-options',
                                f'expected KEY=VALUE, got {item!r}')],
                              source=source)
        unbalanced = [pair for pair in ('()', '[]')
                      if text.count(pair[0]) != text.count(pair[1])]
        if unbalanced:
            raise ConfigError([(key, f'unbalanced brackets in --cfg-options '
                                f'{item!r}; close every {unbalanced[0][0]}')],
                              source=source)
        # A dict starts the value or an item of a list or tuple. A quoted
        # key after the brace marks a dict, not a format string.
        if re.search(r'(^|[\[(,])\s*(dict\(|\{\s*[\'"])', text):
            example = f'{key}.0.type' if text[:1] in '[(' else f'{key}.type'
            raise ConfigError([(key, (
                f'--cfg-options {item!r} contains a dict, which --cfg-options '
                'cannot parse (values are numbers, strings, lists and '
                'tuples); set the keys of an existing dict one per option, '
                f'as in {example}=NAME, or write the dict in a config that '
                'inherits from this one'))], source=source)
        namespace = argparse.Namespace()
        try:
            _OPTION_PARSER(None, namespace, [item])
        except RecursionError:
            # mmengine's parser recurses without end on some values.
            raise ConfigError([(key, f'cannot parse --cfg-options {item!r}; '
                                'quote strings and check the brackets')],
                              source=source) from None
        values[key] = namespace.cfg_options[key]
        texts[key] = text
    return values, texts
