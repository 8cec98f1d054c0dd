"""Run a trained model on one video: the same as ``vidft infer``.

Usage: python tools/infer.py CONFIG CHECKPOINT INPUT [--out OUTPUT]
[--device DEVICE] [--cfg-options KEY=VALUE ...]
"""
import sys

from vidft.cli import main

if __name__ == '__main__':
    sys.exit(main(['infer', *sys.argv[1:]]))
