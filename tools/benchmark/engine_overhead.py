"""Measure the per-step overhead of vidft's runner against a plain PyTorch loop.

Both sides train the same conv net on the same synthetic clips with the same
SGD optimizer, batch size and data loader settings, for the same number of
steps, in one invocation. Two measurements follow each other:

* whole runs: each repeat runs both sides, the side that goes first
  alternating. Each side runs ``--warmup`` untimed steps, then ``--steps``
  timed ones.
* interleaved steps: one runner run per repeat, with a hook that runs one
  plain step before every runner iteration. Both sides see the same load
  from other processes, so the median of the per-step ratios stays steady
  on a shared machine.

The runner side uses vidft's defaults (logger every 10 iterations, JSON and
TensorBoard backends, non-finite guard, random-state and curve hooks) with
checkpointing off and log level WARNING. Start-up and the end-of-run work
(curve plot) fall outside the timed window, so the figure is the
steady-state cost per step.

Two clocks are reported: wall time, and the CPU time of this process
(``time.process_time``, all threads), which excludes time spent waiting for
a core.

Usage:
    python tools/benchmark/engine_overhead.py [--steps 40] [--repeats 5]
        [--warmup 5] [--batch-size 16] [--size 64] [--threads N]
"""
import argparse
import os.path as osp
import statistics
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, default_collate
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, Dataset

from vidft.engine import build_runner
from vidft.registry import DATASETS, MODELS

NUM_CLASSES = 10
SEED = 0


@DATASETS.register_module()
class EngineBenchDataset(Dataset):
    """Random 3 x size x size clips with random labels, fixed by ``seed``."""

    def __init__(self, length: int, size: int, seed: int = SEED) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.clips = torch.randn(length, 3, size, size, generator=generator)
        self.labels = torch.randint(0, NUM_CLASSES, (length, ),
                                    generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=self.clips[index], data_samples=self.labels[index])


@MODELS.register_module()
class EngineBenchConvNet(BaseModel):
    """Four 3x3 conv layers and a linear classifier."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width * 2, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width * 2, width * 2, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width * 2, width * 4, 3, stride=2, padding=1),
            nn.ReLU(inplace=True))
        self.head = nn.Linear(width * 4, NUM_CLASSES)

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Any:
        logits = self.head(self.features(inputs).mean(dim=(2, 3)))
        if mode == 'loss':
            return dict(loss_cls=F.cross_entropy(logits, data_samples))
        return logits


# (wall seconds, CPU seconds) of the timed steps.
Timing = Tuple[float, float]


def _clocks() -> Timing:
    return time.perf_counter(), time.process_time()


def _elapsed(start: Timing, end: Timing) -> Timing:
    return end[0] - start[0], end[1] - start[1]


class StepTimer(Hook):
    """Time the steps after the warm-up inside the runner."""

    priority = 'LOWEST'

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: Optional[Timing] = None
        self.end: Optional[Timing] = None

    def before_train_iter(self, runner: Any, batch_idx: int,
                          data_batch: Any = None) -> None:
        if runner.iter == self.warmup:
            self.start = _clocks()

    def after_train_iter(self, runner: Any, batch_idx: int,
                         data_batch: Any = None, outputs: Any = None) -> None:
        if runner.iter + 1 == runner.max_iters:
            self.end = _clocks()


class PlainTrainer:
    """The plain PyTorch side: a DataLoader and an SGD step per call."""

    def __init__(self, args: argparse.Namespace) -> None:
        torch.manual_seed(SEED)
        total = args.warmup + args.steps
        dataset = EngineBenchDataset(total * args.batch_size, args.size)
        loader = DataLoader(dataset, batch_size=args.batch_size,
                            sampler=DefaultSampler(dataset, shuffle=True,
                                                   seed=SEED),
                            collate_fn=default_collate, num_workers=0)
        self.batches = iter(loader)
        self.model = EngineBenchConvNet()
        settings = _optimizer_cfg(args)
        settings.pop('type')
        self.optimizer = torch.optim.SGD(self.model.parameters(), **settings)
        self.model.train()

    def step(self) -> None:
        batch = next(self.batches)
        losses = self.model(batch['inputs'], batch['data_samples'],
                            mode='loss')
        loss = sum(losses.values())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


class InterleavedTimer(Hook):
    """Run one plain step before each runner iteration and time both.

    The runner's interval runs from the end of one plain step to the start
    of the next, so it contains all of the runner's work for one iteration:
    hooks, data loading, the training step and the loop itself.
    """

    priority = 'HIGHEST'

    def __init__(self, plain: PlainTrainer, warmup: int) -> None:
        self.plain = plain
        self.warmup = warmup
        self.mark: Optional[Timing] = None
        self.runner_steps: List[Timing] = []
        self.plain_steps: List[Timing] = []

    def before_train_iter(self, runner: Any, batch_idx: int,
                          data_batch: Any = None) -> None:
        self._close_runner_step(runner.iter)
        start = _clocks()
        self.plain.step()
        if runner.iter >= self.warmup:
            self.plain_steps.append(_elapsed(start, _clocks()))
        self.mark = _clocks()

    def after_train_iter(self, runner: Any, batch_idx: int,
                         data_batch: Any = None, outputs: Any = None) -> None:
        if runner.iter + 1 == runner.max_iters:
            self._close_runner_step(runner.iter + 1)

    def _close_runner_step(self, iteration: int) -> None:
        if self.mark is not None and iteration > self.warmup:
            self.runner_steps.append(_elapsed(self.mark, _clocks()))


def _optimizer_cfg(args: argparse.Namespace) -> Dict[str, Any]:
    return dict(type='SGD', lr=args.lr, momentum=0.9, weight_decay=1e-4)


def _build_runner(args: argparse.Namespace, work_dir: str, name: str) -> Any:
    total = args.warmup + args.steps
    cfg = dict(
        default_scope='vidft',
        experiment_name=name,
        model=dict(type='EngineBenchConvNet'),
        train_dataloader=dict(
            dataset=dict(type='EngineBenchDataset',
                         length=total * args.batch_size, size=args.size),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=args.batch_size,
            num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=total),
        optim_wrapper=dict(type='OptimWrapper',
                           optimizer=_optimizer_cfg(args)),
        default_hooks=dict(checkpoint=None),
        log_processor=dict(by_epoch=False),
        log_level='WARNING',
        randomness=dict(seed=SEED),
    )
    return build_runner(Config(cfg), work_dir=work_dir)


def time_runner(args: argparse.Namespace, work_root: str, repeat: int
                ) -> Timing:
    runner = _build_runner(args, osp.join(work_root, f'run_{repeat}'),
                           f'engine_overhead_{repeat}')
    timer = StepTimer(args.warmup)
    runner.register_hook(timer)
    runner.train()
    if timer.start is None or timer.end is None:
        raise RuntimeError('the runner did not reach the timed steps')
    return _elapsed(timer.start, timer.end)


def time_plain_loop(args: argparse.Namespace) -> Timing:
    trainer = PlainTrainer(args)
    for _ in range(args.warmup):
        trainer.step()
    start = _clocks()
    for _ in range(args.steps):
        trainer.step()
    return _elapsed(start, _clocks())


def time_interleaved(args: argparse.Namespace, work_root: str, repeat: int
                     ) -> Tuple[List[Timing], List[Timing]]:
    """Return the per-step times of the runner and of the plain loop,
    measured step by step in turn."""
    runner = _build_runner(args, osp.join(work_root, f'mixed_{repeat}'),
                           f'engine_overhead_mixed_{repeat}')
    timer = InterleavedTimer(PlainTrainer(args), args.warmup)
    runner.register_hook(timer)
    runner.train()
    if len(timer.runner_steps) != args.steps:
        raise RuntimeError(f'expected {args.steps} timed runner steps, got '
                           f'{len(timer.runner_steps)}')
    return timer.runner_steps, timer.plain_steps


def measure(args: argparse.Namespace) -> Tuple[List[Timing], List[Timing]]:
    """Time whole runs of each side, alternating which side runs first."""
    runner_times: List[Timing] = []
    plain_times: List[Timing] = []
    with tempfile.TemporaryDirectory(prefix='vidft_engine_overhead_') as root:
        for repeat in range(args.repeats):
            sides = (['runner', 'plain'] if repeat % 2 == 0 else
                     ['plain', 'runner'])
            for side in sides:
                if side == 'runner':
                    runner_times.append(time_runner(args, root, repeat))
                else:
                    plain_times.append(time_plain_loop(args))
            print(f'repeat {repeat + 1}/{args.repeats} '
                  f'({" then ".join(sides)}): runner '
                  f'{runner_times[-1][0]:.3f} s wall '
                  f'{runner_times[-1][1]:.3f} s CPU, plain '
                  f'{plain_times[-1][0]:.3f} s wall '
                  f'{plain_times[-1][1]:.3f} s CPU', flush=True)
    return runner_times, plain_times


def measure_interleaved(args: argparse.Namespace
                        ) -> Tuple[List[Timing], List[Timing]]:
    """Time single steps of both sides in turn, over all repeats."""
    runner_steps: List[Timing] = []
    plain_steps: List[Timing] = []
    with tempfile.TemporaryDirectory(prefix='vidft_engine_overhead_') as root:
        for repeat in range(args.repeats):
            runner_part, plain_part = time_interleaved(args, root, repeat)
            runner_steps += runner_part
            plain_steps += plain_part
    return runner_steps, plain_steps


def report(title: str, runner_times: List[Timing],
           plain_times: List[Timing], steps_per_time: int) -> None:
    """Print the medians of both sides and their ratios, per clock."""
    print(title)
    for index, clock in enumerate(('wall', 'CPU')):
        runner_side = [timing[index] for timing in runner_times]
        plain_side = [timing[index] for timing in plain_times]
        runner_median = statistics.median(runner_side)
        plain_median = statistics.median(plain_side)
        pair_ratios = [r / p for r, p in zip(runner_side, plain_side)]
        print(f'  {clock:>4}: plain PyTorch loop '
              f'{1000 * plain_median / steps_per_time:.1f} ms/step, vidft '
              f'runner {1000 * runner_median / steps_per_time:.1f} ms/step; '
              f'ratio {runner_median / plain_median:.3f} (of medians), '
              f'{statistics.median(pair_ratios):.3f} (median of paired '
              'ratios); target <= 1.05')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=40,
                        help='timed training steps per side and repeat')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed steps before the timed ones')
    parser.add_argument('--repeats', type=int, default=5,
                        help='number of repeats; the side that runs first '
                        'alternates')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--size', type=int, default=64,
                        help='height and width of the clips in pixels')
    parser.add_argument('--lr', type=float, default=0.01)
    parser.add_argument('--threads', type=int, default=None,
                        help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    for name in ('steps', 'warmup', 'repeats', 'batch_size', 'size',
                 'threads'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'expected --{name.replace("_", "-")} >= 1, got '
                         f'{value}')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, '
          f'batch {args.batch_size} x 3 x {args.size} x {args.size}, '
          f'{args.steps} timed steps after {args.warmup} warm-up steps, '
          f'{args.repeats} repeats', flush=True)

    runner_times, plain_times = measure(args)
    runner_steps, plain_steps = measure_interleaved(args)

    report(f'whole runs (median of {args.repeats} repeats of {args.steps} '
           'steps, order alternating):', runner_times, plain_times,
           args.steps)
    report(f'interleaved single steps (median of '
           f'{len(runner_steps)} step pairs):', runner_steps, plain_steps, 1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
