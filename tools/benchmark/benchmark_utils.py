"""Helpers shared by the model inference benchmarks in this folder.

``vsr_inference.py`` and ``interp_inference.py`` take from here the lines
that describe the machine and the devices, the ``--threads`` and
``--device`` options, the parsing of ``--sizes`` and ``--device``, model
building, timing with peak memory, and the Markdown table header. The
scripts import this module by name, which works because Python puts the
folder of the script it runs on ``sys.path``.
"""
import argparse
import gc
import os
import os.path as osp
import platform
import resource
import statistics
import sys
import time
from typing import Callable, Collection, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from torch import nn

from vidft.config import load_config
from vidft.registry import MODELS

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
MIB = 2**20


def cpu_name() -> str:
    """Return the CPU model from ``/proc/cpuinfo``, or what ``platform``
    reports where that file is missing."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine() -> str:
    """Return the ``machine:`` line that opens a benchmark's output, with
    the CPU, logical CPUs, torch version, torch threads and
    ``OMP_NUM_THREADS``."""
    return (f'machine: {cpu_name()}, {platform.machine()}, {os.cpu_count()} '
            f'logical CPUs; torch {torch.__version__}, '
            f'{torch.get_num_threads()} threads, OMP_NUM_THREADS='
            f'{os.environ.get("OMP_NUM_THREADS", "unset")}')


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``--threads`` and ``--device`` options."""
    parser.add_argument('--threads', type=int, default=None,
                        help="torch intra-op threads on CPU (default: "
                        "torch's)")
    parser.add_argument('--device', default='cpu',
                        help='comma-separated devices to measure on, e.g. '
                        'cpu, cuda or cpu,cuda')


def parse_sizes(text: str, choices: Collection[str]) -> List[str]:
    """Split a comma-separated ``--sizes`` value.

    Raises ``ValueError`` for a size that is not in ``choices``.
    """
    sizes = [size.strip() for size in text.split(',')]
    unknown = [size for size in sizes if size not in choices]
    if unknown:
        raise ValueError(f'expected --sizes out of {",".join(choices)}, '
                         f'got {",".join(unknown)}')
    return sizes


def parse_devices(text: str) -> List[torch.device]:
    """Parse a comma-separated device list.

    Raises ``ValueError`` for a device that this torch build cannot run on.
    """
    devices = []
    for name in text.split(','):
        try:
            device = torch.device(name.strip())
        except RuntimeError as error:
            raise ValueError(f'expected a torch device such as cpu or cuda, '
                             f'got {name!r}') from error
        if device.type not in ('cpu', 'cuda'):
            raise ValueError(f'expected device cpu or cuda, got {name!r}')
        if device.type == 'cuda' and not torch.cuda.is_available():
            raise ValueError(
                f'expected a CUDA device for --device {name}, but '
                'torch.cuda.is_available() is False (this torch is built for '
                f'CUDA {torch.version.cuda or "none"}); use --device cpu')
        devices.append(device)
    return devices


def describe_device(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'{device} ({torch.cuda.get_device_name(device)})'
    return f'cpu ({torch.get_num_threads()} threads)'


def describe_devices(devices: Sequence[torch.device]) -> str:
    """Return the ``devices:`` line that closes a benchmark's output."""
    return 'devices: ' + ', '.join(describe_device(d) for d in devices)


def table_header(columns: Sequence[str]) -> str:
    """Return the header row and the separator row of a Markdown table."""
    return ('| ' + ' | '.join(columns) + ' |\n'
            + '|' + ' --- |' * len(columns))


def build_model(config: str, device: torch.device) -> Tuple[nn.Module, Config]:
    """Build the model of ``config``, a path relative to the repository
    root, on ``device`` in eval mode, and return it with its config."""
    cfg = load_config(osp.join(REPO_ROOT, config))
    model = MODELS.build(cfg.model)
    return model.to(device).eval(), cfg


def _current_rss() -> Optional[int]:
    """Return the resident set size in bytes, or None off Linux."""
    try:
        with open('/proc/self/statm') as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf('SC_PAGE_SIZE')


def _peak_rss() -> int:
    """Return the peak resident set size of this process in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak if sys.platform == 'darwin' else peak * 1024


class PeakMemory:
    """Peak memory of the code in a ``with`` block, in MiB, on top of the
    memory in use when the block starts.

    On CUDA it is ``torch.cuda.max_memory_allocated`` minus the memory
    allocated at the start. On CPU it is the peak resident set size minus
    the resident set size at the start. A CPU block that stays below an
    earlier peak of the process gets an upper bound (``<=``), and memory
    that the allocator keeps from earlier blocks makes a CPU figure too
    small, so CPU figures are estimates. ``text`` is ``'n/a'`` where the
    resident set size cannot be read.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.text = 'n/a'

    def __enter__(self) -> 'PeakMemory':
        gc.collect()
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            self.start = _current_rss()
            self.start_peak = _peak_rss()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
            self.text = f'{(peak - self.start) / MIB:.0f}'
            return
        if self.start is None:
            return
        peak = _peak_rss()
        bound = '' if peak > self.start_peak else '<= '
        self.text = f'{bound}{max(peak - self.start, 0) / MIB:.0f}'


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_runs(run: Callable[[], object], device: torch.device, warmup: int,
              repeats: int) -> List[float]:
    """Call ``run`` ``warmup`` times untimed, then ``repeats`` times, and
    return the wall seconds of the timed calls."""
    for _ in range(warmup):
        run()
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return seconds


def measure_runs(run: Callable[[], object], device: torch.device, warmup: int,
                 repeats: int) -> Tuple[float, str]:
    """Time ``run`` as ``time_runs`` does, inside ``PeakMemory``, and return
    the median seconds of the timed calls and the peak memory text."""
    with PeakMemory(device) as memory:
        seconds = time_runs(run, device, warmup, repeats)
    return statistics.median(seconds), memory.text
