"""Evaluate a checkpoint: the same as ``vidft test``.

Usage: python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]
[--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm}]
[--dump PATH.pkl]
"""
import sys

from vidft.cli import main

if __name__ == '__main__':
    sys.exit(main(['test', *sys.argv[1:]]))
