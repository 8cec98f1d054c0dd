"""List the installed vidft plugins and load each one.

Plugins are packages that declare an entry point in the group
``vidft.plugins``. The table shows each plugin's name (its scope), version,
distribution, status (loaded, failed or disabled) and the number of
components it registered in each registry. A failed plugin is followed by
its error. The exit status is 1 when a plugin failed to load.
"""
import argparse
import logging
from typing import List, Sequence

from .. import plugins

COLUMNS = ('NAME', 'VERSION', 'DISTRIBUTION', 'STATUS', 'COMPONENTS')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='print the traceback of each failed plugin and '
                        'the module each plugin imports')


def run(args: argparse.Namespace) -> int:
    # The table reports each failure, so the loader's warning would repeat it.
    loader_logger = logging.getLogger(plugins.__name__)
    level = loader_logger.level
    loader_logger.setLevel(logging.ERROR)
    try:
        infos = sorted(plugins.load_all(), key=lambda info: info.name)
    finally:
        loader_logger.setLevel(level)

    if not infos:
        print('No vidft plugins installed (entry-point group '
              f"'{plugins.ENTRY_POINT_GROUP}').")
        return 0
    print('\n'.join(format_table(infos, verbose=args.verbose)))
    return 1 if any(info.status == 'failed' for info in infos) else 0


def format_table(infos: Sequence[plugins.PluginInfo],
                 verbose: bool = False) -> List[str]:
    """Format plugin infos as aligned text lines, one row per plugin.

    A failed plugin gets an ``error:`` line under its row; ``verbose`` adds
    the module line and the traceback of the failure.
    """
    rows = [(info.name, info.version, info.distribution, info.status,
             _format_components(info)) for info in infos]
    widths = [max(len(row[i]) for row in rows + [COLUMNS])
              for i in range(len(COLUMNS) - 1)]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths)]
        return '  '.join(padded + [cells[-1]]).rstrip()

    lines = [line(COLUMNS)]
    for info, row in zip(infos, rows):
        lines.append(line(row))
        if verbose:
            lines.append(f'    module: {info.module}')
        if info.error:
            lines.append(f'    error: {_first_line(info.error)}')
        if verbose and info.traceback:
            lines.extend('      ' + text
                         for text in info.traceback.rstrip().splitlines())
    return lines


def _format_components(info: plugins.PluginInfo) -> str:
    if info.status != 'loaded':
        return '-'
    if not info.components:
        return 'none'
    return ', '.join(f'{registry}={count}'
                     for registry, count in sorted(info.components.items()))


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else text
