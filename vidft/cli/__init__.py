"""The ``vidft`` command line.

``vidft COMMAND ...`` looks COMMAND up in :data:`COMMANDS` and imports only
that module, so ``vidft --help`` and each command start fast. A command
module provides ``add_arguments(parser)`` and ``run(args) -> int``. The CLI
is the only part of vidft that prints. Errors that a user can fix
(an invalid config, a broken plugin, a missing file) are printed as one
line; other exceptions keep their traceback.
"""
import argparse
import logging
import sys
from importlib import import_module
from types import ModuleType
from typing import Dict, List, Optional, Sequence, Tuple

# Command name -> (module, one-line help). Modules are imported on use.
COMMANDS: Dict[str, Tuple[str, str]] = {
    'train': ('vidft.cli.train', 'fine-tune a model from a config'),
    'test': ('vidft.cli.test', 'evaluate a checkpoint on the test set'),
    'plugins': ('vidft.cli.plugins',
                'list installed plugins and check that they load'),
    'config': ('vidft.cli.config', 'show the merged, validated config'),
    'infer': ('vidft.cli.infer',
              'run a trained model on a video and write the result'),
    'data': ('vidft.cli.data', 'check the videos of a dataset for bad files'),
    'export': ('vidft.cli.export', 'merge LoRA weights into a plain checkpoint'),
    'convert-config': ('vidft.cli.convert_config',
                       'convert an mmaction2 recognition config to vidft'),
}

LOG_LEVELS = ('DEBUG', 'INFO', 'WARNING', 'ERROR')

# Exit status for errors that the user can fix.
EXIT_USER_ERROR = 1

# Exit status after Ctrl-C, as shells report a process that SIGINT ended.
EXIT_INTERRUPTED = 130


class CommandNotFoundError(ImportError):
    """A command listed in :data:`COMMANDS` whose module is missing."""


def _main_parser() -> argparse.ArgumentParser:
    commands = '\n'.join(f'  {name:<10} {text}'
                         for name, (_, text) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog='vidft',
        description='Fine-tune pretrained models on video tasks.',
        epilog=f'commands:\n{commands}\n\n'
        "Run 'vidft COMMAND --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--log-level', default='WARNING', choices=LOG_LEVELS,
                        help='level of the log messages printed to stderr '
                        '(default: WARNING)')
    parser.add_argument('--version', action='store_true',
                        help='print the vidft version and exit')
    parser.add_argument('command', nargs='?', choices=sorted(COMMANDS),
                        metavar='COMMAND', help='one of: '
                        f"{', '.join(COMMANDS)}")
    parser.add_argument('arguments', nargs=argparse.REMAINDER,
                        help='options of the command')
    return parser


def load_command(name: str) -> ModuleType:
    """Import the module of command ``name``.

    Raises:
        CommandNotFoundError: the module in :data:`COMMANDS` does not exist
            or lacks ``add_arguments`` or ``run``.
    """
    module_name = COMMANDS[name][0]
    try:
        module = import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(
                f'{exc.name}.'):
            raise  # the module exists but one of its imports is missing
        raise CommandNotFoundError(
            f"the command '{name}' is listed in vidft.cli.COMMANDS but its "
            f'module {module_name} is missing; reinstall vidft or remove the '
            'entry') from exc
    missing = [attr for attr in ('add_arguments', 'run')
               if not callable(getattr(module, attr, None))]
    if missing:
        raise CommandNotFoundError(
            f"the module {module_name} of the command '{name}' lacks "
            f"{' and '.join(missing)}(); a command module must define "
            'add_arguments(parser) and run(args)')
    return module


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``vidft`` command line and return its exit status."""
    from ..plugins import PluginError
    from ..config import ConfigError

    parser = _main_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or a usage error
        return _exit_code(exc)
    if args.version:
        from ..version import __version__
        print(f'vidft {__version__}')
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USER_ERROR

    try:
        module = load_command(args.command)
    except CommandNotFoundError as exc:
        print(f'vidft: error: {exc}', file=sys.stderr)
        return EXIT_USER_ERROR
    command_parser = argparse.ArgumentParser(
        prog=f'vidft {args.command}', description=module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(command_parser)
    try:
        command_args = command_parser.parse_args(args.arguments)
    except SystemExit as exc:
        return _exit_code(exc)

    _configure_logging(args.log_level)
    try:
        return int(module.run(command_args))
    except (ConfigError, PluginError, FileExistsError,
            FileNotFoundError) as exc:
        print(f'vidft {args.command}: error: {exc}', file=sys.stderr)
        return EXIT_USER_ERROR
    except _user_errors() as exc:
        print(f'vidft {args.command}: error: {exc}', file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        # Ctrl-C was the user's choice, so a traceback would tell them nothing.
        print(f'vidft {args.command}: interrupted', file=sys.stderr)
        return EXIT_INTERRUPTED


def _user_errors() -> Tuple[type, ...]:
    # Imported only when an exception reaches main(): importing the engine
    # up front would slow every command down.
    from ..data.annotations import AnnotationError
    from ..data.transforms.base import LabelMapError
    from ..data.video.base import VideoDecodeError
    from ..data.video.frame_folder import FrameFolderError
    from ..data.video.writer import VideoEncodeError
    from ..engine.checkpoint import CheckpointLoadError
    from ..engine.hooks import ClassNamesMismatchError
    from ..finetune.checkpoint_io import UntrustedPickleError
    from ..finetune.loading import CheckpointMismatchError
    return (AnnotationError, CheckpointLoadError, CheckpointMismatchError,
            ClassNamesMismatchError, FrameFolderError, LabelMapError,
            UntrustedPickleError, VideoDecodeError, VideoEncodeError)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    return exc.code if isinstance(exc.code, int) else EXIT_USER_ERROR


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is now.

    ``main`` may run several times in one process (tests, notebooks) while
    ``sys.stderr`` is replaced in between.
    """

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        # tqdm.write clears an open progress bar, prints the line and draws
        # the bar again below it, so a warning never lands inside the bar.
        from tqdm import tqdm
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must not raise
            self.handleError(record)


def _configure_logging(level: str) -> None:
    """Send the log records of vidft and of its installed plugins at
    ``level`` and above to stderr."""
    for name in ['vidft'] + _plugin_packages():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
            handler = _StderrHandler()
            handler.setFormatter(
                logging.Formatter('%(levelname)s %(name)s: %(message)s'))
            logger.addHandler(handler)


def _plugin_packages() -> List[str]:
    """Return the top-level packages of the installed plugins, whose
    modules log under their own names (``vidft_vsr.inference``)."""
    from ..plugins import discover

    packages = {info.module.split(':')[0].split('.')[0]
                for info in discover().values()}
    return sorted(packages - {'vidft'})


__all__: List[str] = ['COMMANDS', 'CommandNotFoundError', 'load_command',
                      'main']
