"""Write config values as Python source in the ``dict(key=value)`` style of
mmengine configs."""
import keyword
from typing import Any

# Maximum line length of the written config.
LINE_WIDTH = 79
INDENT = '    '


def format_value(value: Any, indent: str = '', column: int = 0,
                 width: int = LINE_WIDTH) -> str:
    """Return Python source for ``value``.

    ``value`` starts at ``column`` on a line whose indentation is
    ``indent``. A value that fits in the remaining width stays on one line.
    Otherwise a dict, list or tuple puts one item per line, indented by 4
    more spaces. Dicts whose keys are all identifiers become ``dict(...)``
    calls.
    """
    one_line = _format_flat(value)
    if column + len(one_line) <= width or not isinstance(
            value, (dict, list, tuple)) or not value:
        return one_line

    inner = indent + INDENT
    if isinstance(value, dict):
        as_call = _keys_are_names(value)
        opening, closing = ('dict(', ')') if as_call else ('{', '}')
        prefixes = [f'{key}=' if as_call else f'{key!r}: ' for key in value]
        items = [prefix + format_value(item, inner, len(inner) + len(prefix),
                                       width)
                 for prefix, item in zip(prefixes, value.values())]
    else:
        opening, closing = ('[', ']') if isinstance(value, list) else \
            ('(', ')')
        items = [format_value(item, inner, len(inner), width)
                 for item in value]
    body = ',\n'.join(inner + item for item in items)
    return f'{opening}\n{body},\n{indent}{closing}'


def _format_flat(value: Any) -> str:
    if isinstance(value, dict):
        if _keys_are_names(value):
            return 'dict(' + ', '.join(
                f'{key}={_format_flat(item)}'
                for key, item in value.items()) + ')'
        return '{' + ', '.join(f'{key!r}: {_format_flat(item)}'
                               for key, item in value.items()) + '}'
    if isinstance(value, list):
        return '[' + ', '.join(_format_flat(item) for item in value) + ']'
    if isinstance(value, tuple):
        items = [_format_flat(item) for item in value]
        return '(' + ', '.join(items) + (',)' if len(items) == 1 else ')')
    return repr(value)


def _keys_are_names(value: dict) -> bool:
    return bool(value) and all(
        isinstance(key, str) and key.isidentifier() and
        not keyword.iskeyword(key) for key in value)
