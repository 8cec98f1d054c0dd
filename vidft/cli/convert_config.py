"""Convert an mmaction2 recognition config to a vidft config.

``vidft convert-config MMACTION2_CONFIG.py [-o OUT.py]`` reads the mmaction2
config with mmengine, so its ``_base_`` files resolve relative to it and
mmaction2 itself is never imported. It writes the equivalent vidft config:
model, data pipelines, datasets, evaluators, schedule and runtime. Supported
families: TSN, TSM, I3D and SlowOnly with ResNet backbones. Options that
could not be carried over are printed to stderr and listed in the header of
the written file. Without ``-o`` the config is printed to stdout.
"""
import argparse
import os.path as osp
import sys

# Exit status when the config is not a supported mmaction2 recognizer.
EXIT_UNSUPPORTED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='MMACTION2_CONFIG',
                        help='path of the mmaction2 Python config file')
    parser.add_argument('-o', '--out', metavar='OUT',
                        help='path of the vidft config to write; printed to '
                        'stdout when left out')
    parser.add_argument('--force', action='store_true',
                        help='overwrite OUT when it exists')


def run(args: argparse.Namespace) -> int:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'mmaction2 config not found: {args.config}')
    if args.out and osp.exists(args.out) and not args.force:
        print(f'vidft convert-config: error: {args.out} exists; pass --force '
              'to overwrite it', file=sys.stderr)
        return EXIT_UNSUPPORTED

    from vidft_recognition.mmaction2 import convert_mmaction2_config
    try:
        result = convert_mmaction2_config(args.config)
    except ValueError as exc:
        print(f'vidft convert-config: error: {exc}', file=sys.stderr)
        return EXIT_UNSUPPORTED

    text = result.to_text()
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    if result.skipped:
        print(f'Not carried over ({len(result.skipped)}):', file=sys.stderr)
        for line in result.skipped:
            print(f'  {line}', file=sys.stderr)
    if args.out:
        print(f'Wrote {args.out}', file=sys.stderr)
    return 0
