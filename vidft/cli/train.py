"""Fine-tune a model from a config.

``vidft train CONFIG`` (or ``python tools/train.py CONFIG``) trains on the
GPU when one is visible, on CPU otherwise. Under torchrun the distributed
launcher is picked automatically:
``torchrun --nproc_per_node=2 tools/train.py CONFIG``. Put ``--resume``
after CONFIG, because a bare ``--resume`` takes an optional value.
"""
import argparse
import os

from ..config import load_config
from ..engine import build_runner
from ..engine.dist import LAUNCHERS, destroy_process_group


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('config', metavar='CONFIG',
                        help='path of the Python config file')
    parser.add_argument(
        '--work-dir', metavar='DIR',
        help='folder for logs and checkpoints (default: work_dir of the '
        'config, else ./work_dirs/<config name>)')
    parser.add_argument(
        '--resume', nargs='?', const='auto', default=None,
        metavar='PATH|auto',
        help="resume training: 'auto' (also a bare --resume) takes the "
        'newest readable checkpoint of the work dir and falls back to older '
        'ones; PATH resumes that checkpoint')
    parser.add_argument(
        '--amp', action='store_true',
        help='automatic mixed precision (float16 on GPU, bfloat16 on CPU)')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='override config keys, e.g. train_cfg.max_epochs=5 '
        'optim_wrapper.optimizer.lr=0.01; lists as a=1,2 or a=[1,2]')
    parser.add_argument(
        '--launcher', choices=LAUNCHERS, default='none',
        help="how the processes were started (default: 'none', which "
        "becomes 'pytorch' under torchrun)")
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed (overrides randomness.seed)')
    parser.add_argument(
        '--deterministic', action='store_true',
        help='use deterministic algorithms where PyTorch has them (slower)')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK.
    parser.add_argument('--local-rank', '--local_rank', type=int,
                        default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    if args.local_rank is not None:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args.config, args.cfg_options)
    runner = build_runner(
        cfg, launcher=args.launcher, work_dir=args.work_dir,
        resume=args.resume, amp=args.amp, seed=args.seed,
        deterministic=args.deterministic)
    succeeded = False
    try:
        runner.train()
        succeeded = True
    finally:
        destroy_process_group(succeeded)
    return 0
