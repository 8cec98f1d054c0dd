"""Fine-tune a model from a config: the same as ``vidft train``.

Usage: python tools/train.py CONFIG [--work-dir DIR] [--resume [PATH|auto]]
[--amp] [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}]
[--seed N] [--deterministic]

Distributed: torchrun --nproc_per_node=N tools/train.py CONFIG
"""
import sys

from vidft.cli import main

if __name__ == '__main__':
    sys.exit(main(['train', *sys.argv[1:]]))
