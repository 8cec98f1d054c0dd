"""Evaluate a checkpoint on the test set of a config.

``vidft test CONFIG CHECKPOINT`` (or ``python tools/test.py CONFIG
CHECKPOINT``) loads the checkpoint without running code stored in it, runs
the test loop and logs the metrics of ``test_evaluator``. ``--dump
predictions.pkl`` also writes every prediction to a pickle file, as
mmaction2's ``--dump`` does.
"""
import argparse
import os
import sys
import os.path as osp
from typing import Any, List

from mmengine.config import Config

from ..config import load_config
from ..engine import build_runner
from ..engine.dist import LAUNCHERS, destroy_process_group

# File name endings that mmengine's DumpResults metric accepts.
DUMP_SUFFIXES = ('.pkl', '.pickle')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='CONFIG',
                        help='path of the Python config file')
    parser.add_argument('checkpoint', metavar='CHECKPOINT', nargs='?',
                        default=None,
                        help='checkpoint file to evaluate; leave it out only '
                        'for models without trained weights, such as the '
                        'bicubic or frame-averaging baselines')
    parser.add_argument(
        '--work-dir', metavar='DIR',
        help='folder for the test logs (default: work_dir of the config, '
        'else ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='override config keys, e.g. test_dataloader.batch_size=4')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none',
        help="how the processes were started (default: 'none', which "
        "becomes 'pytorch' under torchrun)")
    parser.add_argument(
        '--dump', metavar='PATH',
        help='also write the predictions to this pickle file (.pkl)')
    parser.add_argument('--local-rank', '--local_rank', type=int,
                        default=None, help=argparse.SUPPRESS)


def add_dump_metric(cfg: Config, path: str) -> None:
    """Append mmengine's DumpResults metric for ``path`` to the test
    evaluator of ``cfg``."""
    if not path.endswith(DUMP_SUFFIXES):
        raise ValueError(f'expected --dump to end with {DUMP_SUFFIXES}, got '
                         f'{path!r}')
    dump_metric = dict(type='DumpResults', out_file_path=path)
    evaluator: Any = cfg.get('test_evaluator')
    if evaluator is None:
        metrics: List[Any] = []
    elif isinstance(evaluator, (list, tuple)):
        metrics = list(evaluator)
    else:
        metrics = [evaluator]
    cfg.test_evaluator = metrics + [dump_metric]


def run(args: argparse.Namespace) -> int:
    if args.local_rank is not None:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint {args.checkpoint} does not '
                                'exist')
    cfg = load_config(args.config, args.cfg_options)
    if cfg.get('test_dataloader') is None:
        raise ValueError(f'config {args.config} has no test_dataloader; add '
                         'test_dataloader, test_cfg and test_evaluator')
    if args.checkpoint is None:
        print('vidft test: warning: no checkpoint given, so the model is '
              'tested as the config builds it; this is meaningful only for '
              'models without trained weights (baselines)', file=sys.stderr)
    else:
        cfg.load_from = args.checkpoint
    if args.dump:
        add_dump_metric(cfg, args.dump)
    runner = build_runner(cfg, launcher=args.launcher, work_dir=args.work_dir)
    succeeded = False
    try:
        runner.test()
        succeeded = True
    finally:
        destroy_process_group(succeeded)
    return 0
