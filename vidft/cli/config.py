"""Work with config files.

``vidft config show CONFIG`` prints the config after ``_base_`` merging and
``--cfg-options`` overrides, once it has passed validation, in the form of
a Python config file (mmengine's ``pretty_text``).
"""
import argparse

from ..config import load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest='action', metavar='ACTION',
                                    required=True)
    show = actions.add_parser(
        'show', help='print the merged, validated config',
        description='Print the merged, validated config.')
    show.add_argument('config', metavar='CONFIG',
                      help='path of the Python config file')
    show.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='override config keys, e.g. train_cfg.max_epochs=5 '
        'optim_wrapper.optimizer.lr=0.01; lists as a=1,2 or a=[1,2]')


def run(args: argparse.Namespace) -> int:
    if args.action == 'show':
        cfg = load_config(args.config, args.cfg_options)
        print(cfg.pretty_text)
        return 0
    raise ValueError(f"expected the action 'show', got {args.action!r}")
