"""Measure frame-interpolation speed at 480p and 720p.

Each model of the interpolation plugin is built from its config and
interpolates one frame pair at ``t = 0.5``. The timed call is the one that
``InterpolationInferencer`` makes per pair for a factor of 2,
``model.predict_frames(pair, timestep)``. It pads the frames on the bottom
and right to the model's size divisor, runs the network and crops the
frame back. One pair gives one interpolated frame, so the table reports
``1 / median seconds`` as interpolated frames per second. The models are:

* frame averaging, always measured as the reference:
  ``configs/interpolation/frame_averaging.py`` (no parameters);
* small: ``configs/interpolation/rife_small_scratch_demo.py``;
* prior: ``configs/interpolation/rife_small_flow_prior_demo.py``, the
  small network plus OpenCV DIS flow between the two frames, which runs on
  the CPU even with ``--device cuda``. OpenCV keeps its default number of
  threads here, as in ``vidft infer``, while the runner of ``vidft train``
  and ``vidft test`` sets it to 0 (``env_cfg.mp_cfg.opencv_num_threads``),
  so the flow may take longer there;
* published: ``configs/interpolation/rife_v46.py`` (the size of the public
  RIFE v4.6 flow network).

The weights stay at their random initialisation, because the work of a
forward pass does not depend on the values of the weights. (The configs set
no ``init_cfg`` or ``pretrained``, so the inferencer's ``init_weights()``
call changes nothing there and is left out.) The frames are uniform random
values in ``[0, 1]`` with a fixed seed. Each timed run is one call under
``torch.no_grad``, as in the inferencer. ``--warmup`` untimed calls come
first, and the table gives the median of ``--repeats`` timed calls. The
uint8 conversion of the frames before the call and of the prediction after
it fall outside the timed window.

Peak memory is what the calls take on top of the model and the input pair.
On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory
allocated before the first call. On CPU it is the process's peak resident
set size (``resource.getrusage``) minus its resident set size before the
first call. A case that stays below an earlier case's peak gets an upper
bound (``<=``), and memory the allocator keeps after a case makes the next
CPU figure too small, so CPU figures are estimates.

Usage::

    python tools/benchmark/interp_inference.py [--repeats 5] [--warmup 1]
        [--threads N] [--device cpu|cuda|cpu,cuda]
        [--sizes small,prior,published]
        [--resolutions 480p,720p]

``--resolutions`` also takes ``WIDTHxHEIGHT`` items, e.g. ``64x36`` for a
quick check.
"""
import argparse
import sys
from typing import List, Optional, Tuple

import torch
from mmengine.config import Config

# Run as a script, so Python puts this folder on sys.path and the sibling
# module imports by name.
from benchmark_utils import (add_device_arguments, build_model,
                             describe_devices, describe_machine, measure_runs,
                             parse_devices, parse_sizes, table_header)

MODEL_CONFIGS = {
    'small': 'configs/interpolation/rife_small_scratch_demo.py',
    'prior': 'configs/interpolation/rife_small_flow_prior_demo.py',
    'published': 'configs/interpolation/rife_v46.py',
}
BASELINE_CONFIG = 'configs/interpolation/frame_averaging.py'
# Width and height of the named resolutions. 480p is 854 pixels wide, the
# 16:9 width rounded to an even number.
RESOLUTIONS = {'480p': (854, 480), '720p': (1280, 720)}
TIMESTEP = 0.5
SEED = 0
TABLE_COLUMNS = ('model', 'config', 'settings', 'params (M)', 'device',
                 'resolution', 'padded to', 'median ms per pair',
                 'interpolated frames/s', 'peak memory (MiB)')


def parse_resolution(text: str) -> Tuple[str, int, int]:
    """Return the name, width and height of ``480p``, ``720p`` or
    ``WIDTHxHEIGHT``. Raises ``ValueError`` for anything else."""
    text = text.strip()
    if text in RESOLUTIONS:
        return (text, *RESOLUTIONS[text])
    parts = text.lower().split('x')
    if len(parts) == 2 and all(part.isdigit() for part in parts):
        width, height = int(parts[0]), int(parts[1])
        if width >= 1 and height >= 1:
            return text, width, height
    raise ValueError(f'expected a resolution out of {",".join(RESOLUTIONS)} '
                     f'or WIDTHxHEIGHT (e.g. 64x36), got {text!r}')


def describe_model(cfg: Config) -> str:
    model_cfg = cfg.model
    if model_cfg.type != 'interpolation.RIFE':
        return model_cfg.type
    # The defaults are those of interpolation.RIFE's constructor.
    refine = model_cfg.get('refine_channels', 32)
    flow_channels = tuple(model_cfg.get('flow_channels', (192, 128, 96, 64)))
    scales = tuple(model_cfg.get('scales', (8, 4, 2, 1)))
    prior = model_cfg.get('flow_prior')
    prior = (', flow prior ' + ' '.join(str(v) for v in prior.values())
             if prior else '')
    return (f'flow {flow_channels} at scales {scales}, '
            f'{model_cfg.get("num_convs", 8)} convs per block, refine '
            f'{refine or "none"}, ensemble '
            f'{"on" if model_cfg.get("ensemble", False) else "off"}{prior}')


def padded_size(width: int, height: int, divisor: int) -> str:
    return f'{-(-width // divisor) * divisor}x{-(-height // divisor) * divisor}'


def measure_case(name: str, config: str, device: torch.device,
                 resolution: Tuple[str, int, int],
                 args: argparse.Namespace) -> str:
    """Time one model at one resolution on one device and return its table
    row."""
    model, cfg = build_model(config, device)
    label, width, height = resolution
    num_params = sum(p.numel() for p in model.parameters())
    divisor = int(model.size_divisor)

    # As in the inferencer, the inputs are (pairs, 2, 3, H, W) with one
    # timestep per pair.
    generator = torch.Generator().manual_seed(SEED)
    pair = torch.rand(2, 3, height, width, generator=generator).to(device)
    inputs = pair.unsqueeze(0).expand(1, -1, -1, -1, -1)
    timestep = torch.full((1, ), TIMESTEP, device=device)

    def interpolate() -> torch.Tensor:
        with torch.no_grad():
            return model.predict_frames(inputs, timestep)

    median, memory = measure_runs(interpolate, device, args.warmup,
                                  args.repeats)
    row = (f'| {name} | {config} | {describe_model(cfg)} | '
           f'{num_params / 1e6:.2f} | {device.type} | {label} '
           f'({width}x{height}) | {padded_size(width, height, divisor)} | '
           f'{1000 * median:.2f} | {1 / median:.2f} | {memory} |')
    del model, pair, inputs
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return row


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=5,
                        help='timed calls per case, whose median the table '
                        'gives')
    parser.add_argument('--warmup', type=int, default=1,
                        help='untimed calls before the timed ones')
    add_device_arguments(parser)
    parser.add_argument('--sizes', default='small,prior,published',
                        help='comma-separated RIFE sizes out of '
                        f'{",".join(MODEL_CONFIGS)} (frame averaging is '
                        'always measured too)')
    parser.add_argument('--resolutions', default='480p,720p',
                        help='comma-separated frame sizes: '
                        f'{", ".join(RESOLUTIONS)} or WIDTHxHEIGHT in '
                        'pixels')
    args = parser.parse_args(argv)

    for name in ('repeats', 'threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'expected --{name} >= 1, got {value}')
    if args.warmup < 0:
        parser.error(f'expected --warmup >= 0, got {args.warmup}')
    try:
        args.sizes = parse_sizes(args.sizes, MODEL_CONFIGS)
        args.resolutions = [parse_resolution(item)
                            for item in args.resolutions.split(',')]
        args.device = parse_devices(args.device)
    except ValueError as error:
        parser.error(str(error))
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    print(describe_machine())
    print(f'one frame pair per call at t={TIMESTEP}, float32; '
          f'{args.warmup} warm-up and {args.repeats} timed calls per case, '
          'torch.no_grad, random weights', flush=True)

    cases = [('frame averaging', BASELINE_CONFIG)]
    cases += [(size, MODEL_CONFIGS[size]) for size in args.sizes]
    print(table_header(TABLE_COLUMNS))
    # Each model runs all resolutions before the next model. The CPU peak
    # memory then usually grows from case to case, so fewer CPU figures are
    # only upper bounds.
    for device in args.device:
        for name, config in cases:
            for resolution in args.resolutions:
                print(measure_case(name, config, device, resolution, args),
                      flush=True)
    print(describe_devices(args.device))
    return 0


if __name__ == '__main__':
    sys.exit(main())
