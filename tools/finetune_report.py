"""Compare fine-tuning strategies on one config with the same budget.

    python tools/finetune_report.py CONFIG \\
        --strategies full,linear_probe,lora,unfreeze,scratch \\
        --max-iters 200 --seed 0

Each strategy (see :mod:`vidft.finetune.strategies`) trains in its own
subprocess, in a fresh work dir ``<work-dir>/<strategy>``, with the same
seed, data and schedule. The parent writes ``finetune_report.md`` (a
Markdown table) and ``finetune_report.png`` (the validation metric over
iterations) to ``--out-dir``, and prints the table.

Measured per strategy:

* trainable parameters when training starts and when it ends (the
  ``unfreeze`` strategy trains more at the end);
* peak memory: on CPU the growth of the process's peak resident set size
  (``resource.getrusage``) over its size before the runner was built; on a
  GPU ``torch.cuda.max_memory_allocated``;
* time per training iteration: the median time of the training step
  (forward, backward, update) over iterations after the first
  :data:`WARMUP_ITERS`, without data loading and validation;
* the validation metric after each validation, and the last one;
* the size of the last checkpoint file.

``--max-iters N`` replaces the config's train loop by an iteration-based
loop of N iterations, validated every ``--val-interval`` iterations, and its
lr schedule by a linear warm-up over the first 10% (at least 2 iterations)
followed by cosine decay.
"""
import argparse
import math
import ast
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

# Training iterations left out of the time per iteration (data loader start,
# first allocations).
WARMUP_ITERS = 3
RESULT_FILE = 'finetune_result.json'
WARMUP_FRACTION = 0.1
# mmengine's LinearLR over a single iteration never leaves start_factor, and
# the cosine schedule after it would then decay from a tenth of the lr.
MIN_WARMUP_ITERS = 2


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='path of the Python config file')
    parser.add_argument(
        '--strategies', default='full,linear_probe,lora,unfreeze,scratch',
        help='comma-separated strategies (default: %(default)s)')
    parser.add_argument('--max-iters', type=int, default=None,
                        help='train every strategy for this many iterations '
                        '(default: the train loop of the config)')
    parser.add_argument('--val-interval', type=int, default=None,
                        help='iterations between validations with '
                        '--max-iters (default: max-iters / 5)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed of every run (default: 0)')
    parser.add_argument('--metric', default=None,
                        help='validation metric to report (default: the '
                        "first key with 'top1', else the first key)")
    parser.add_argument('--peft', nargs='+', default=[], metavar='KEY=VALUE',
                        help='LoRA options for the lora strategy, e.g. r=4 '
                        "target_types=\"('Conv2d',)\"")
    parser.add_argument('--lora-lr-mult', type=float, default=1.0,
                        help='lr multiplier of the LoRA weights in the lora '
                        'strategy (default: %(default)s)')
    parser.add_argument('--loraplus-lr-ratio', type=float, default=1.0,
                        help='LoRA+: lr of the lora_B matrices over that of '
                        'the lora_A matrices in the lora strategy (default: '
                        '%(default)s)')
    parser.add_argument(
        '--reuse', action='store_true',
        help='take the result of a strategy that already finished in the '
        'work dir instead of training it again, e.g. to complete a report '
        'that was stopped; the other options must be those of that run')
    parser.add_argument('--work-dir', default=None,
                        help='parent of the per-strategy work dirs (default: '
                        'work_dirs/finetune_report/<config name>)')
    parser.add_argument('--out-dir', default=None,
                        help='where the table and plot go (default: the '
                        'work dir)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE', help='override config keys')
    parser.add_argument('--timeout', type=float, default=None,
                        help='seconds each strategy may run (default: none)')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def parse_peft_options(items: List[str]) -> Dict[str, Any]:
    """Turn ``KEY=VALUE`` strings into a dict; values are Python literals
    where they parse as such, else strings."""
    options: Dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition('=')
        if not sep or not key:
            raise ValueError(f'expected KEY=VALUE, got {item!r}')
        try:
            options[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            options[key] = value
    return options


# Worker ---------------------------------------------------------------


def set_budget(cfg: Any, max_iters: int, val_interval: Optional[int]) -> None:
    """Make ``cfg`` train for ``max_iters`` iterations with a fixed
    warm-up and cosine schedule, validating every ``val_interval``."""
    if max_iters < MIN_WARMUP_ITERS + 1:
        raise ValueError(f'expected --max-iters > {MIN_WARMUP_ITERS}, got '
                         f'{max_iters}')
    interval = val_interval or max(1, max_iters // 5)
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters,
                         val_interval=interval)
    warmup = max(MIN_WARMUP_ITERS, int(max_iters * WARMUP_FRACTION))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', T_max=max_iters - warmup,
             by_epoch=False, begin=warmup, end=max_iters,
             eta_min_ratio=0.01),
    ]
    cfg.log_processor = dict(by_epoch=False)
    hooks = dict(cfg.get('default_hooks') or {})
    hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                               interval=max_iters, max_keep_ckpts=1)
    hooks['logger'] = dict(type='LoggerHook', interval=max(1, interval // 2))
    cfg.default_hooks = hooks


def worker_config(args: argparse.Namespace) -> Any:
    """Load the config and rewrite it for the budget and the strategy
    ``args.worker``."""
    from vidft.config import load_config
    from vidft.finetune import apply_strategy

    cfg = load_config(args.config, args.cfg_options or None)
    # The budget first: the unfreeze strategy places its hook by the loop.
    if args.max_iters is not None:
        set_budget(cfg, args.max_iters, args.val_interval)
    options = {}
    if args.worker == 'lora' and args.peft:
        options['peft'] = parse_peft_options(args.peft)
    if args.worker == 'lora' and args.lora_lr_mult != 1.0:
        options['lr_mult'] = args.lora_lr_mult
    if args.worker == 'lora' and args.loraplus_lr_ratio != 1.0:
        options['loraplus_lr_ratio'] = args.loraplus_lr_ratio
    return apply_strategy(cfg, args.worker, **options)


def _rss_kib() -> int:
    """Return the current resident set size in KiB (Linux /proc)."""
    with open('/proc/self/statm') as file:
        pages = int(file.read().split()[1])
    return pages * os.sysconf('SC_PAGE_SIZE') // 1024


def run_worker(args: argparse.Namespace) -> None:
    """Train one strategy and write its measurements as JSON."""
    import torch
    from mmengine.hooks import Hook

    from vidft.engine import build_runner

    strategy = args.worker
    rss_before = _rss_kib()  # after the imports above
    cfg = worker_config(args)
    work_dir = osp.join(args.work_dir, strategy)
    cfg.experiment_name = f'finetune_report_{strategy}'

    class MeasureHook(Hook):
        """Times training iterations and keeps validation metrics."""

        priority = 'VERY_LOW'

        def __init__(self) -> None:
            self.iter_seconds: List[float] = []
            self.metrics: List[Dict[str, Any]] = []
            self.trainable_start = 0
            self._start = 0.0

        def before_train(self, runner):
            # After every before_run, so UnfreezeHook has frozen its part.
            self.trainable_start = sum(
                p.numel() for p in model.parameters() if p.requires_grad)

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self._start = time.perf_counter()

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            self.iter_seconds.append(time.perf_counter() - self._start)

        def after_val_epoch(self, runner, metrics=None):
            values = {k: float(v) for k, v in (metrics or {}).items()
                      if isinstance(v, (int, float))}
            self.metrics.append(dict(iter=runner.iter, **values))

    runner = build_runner(cfg, work_dir=work_dir, seed=args.seed)
    hook = MeasureHook()
    runner.register_hook(hook)
    model = runner.model.module if hasattr(runner.model, 'module') \
        else runner.model
    total = sum(p.numel() for p in model.parameters())
    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()

    runner.train()

    trainable_end = sum(p.numel() for p in model.parameters()
                        if p.requires_grad)
    if gpu:
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
        memory_kind = 'GPU max allocated'
    else:
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak_mib = (peak_kib - rss_before) / 1024
        memory_kind = 'CPU peak RSS growth'
    checkpoints = sorted(
        (osp.join(work_dir, f) for f in os.listdir(work_dir)
         if f.endswith('.pth')), key=osp.getmtime)
    timed = hook.iter_seconds[WARMUP_ITERS:] or hook.iter_seconds
    result = dict(
        strategy=strategy, trainable_start=hook.trainable_start,
        trainable_end=trainable_end, total=total, peak_mib=peak_mib,
        memory_kind=memory_kind,
        seconds_per_iter=statistics.median(timed) if timed else None,
        metrics=hook.metrics,
        checkpoint_mib=(osp.getsize(checkpoints[-1]) / 2**20
                        if checkpoints else None))
    with open(osp.join(work_dir, RESULT_FILE), 'w') as file:
        json.dump(result, file, indent=1)


# Parent ---------------------------------------------------------------


def run_strategy(args: argparse.Namespace, strategy: str) -> Dict[str, Any]:
    command = [sys.executable, osp.abspath(__file__),
               osp.abspath(args.config),
               '--worker', strategy, '--seed', str(args.seed),
               '--work-dir', args.work_dir]
    if args.max_iters is not None:
        command += ['--max-iters', str(args.max_iters)]
    if args.val_interval is not None:
        command += ['--val-interval', str(args.val_interval)]
    if args.peft:
        command += ['--peft', *args.peft]
    if args.lora_lr_mult != 1.0:
        command += ['--lora-lr-mult', str(args.lora_lr_mult)]
    if args.loraplus_lr_ratio != 1.0:
        command += ['--loraplus-lr-ratio', str(args.loraplus_lr_ratio)]
    if args.cfg_options:
        command += ['--cfg-options', *args.cfg_options]
    work_dir = osp.join(args.work_dir, strategy)
    os.makedirs(work_dir, exist_ok=True)
    log_path = osp.join(work_dir, 'worker.log')
    started = time.perf_counter()
    with open(log_path, 'w') as log:
        try:
            process = subprocess.run(command, stdout=log,
                                     stderr=subprocess.STDOUT,
                                     timeout=args.timeout)
        except subprocess.TimeoutExpired:
            raise SystemExit(f'strategy {strategy} ran past --timeout '
                             f'{args.timeout:g} s and was stopped; its log is '
                             f'{log_path}. Raise --timeout, or pass --reuse '
                             'to keep the strategies that finished') from None
    if process.returncode != 0:
        raise SystemExit(f'strategy {strategy} failed with exit status '
                         f'{process.returncode}; see {log_path}')
    with open(osp.join(work_dir, RESULT_FILE)) as file:
        result = json.load(file)
    result['wall_seconds'] = time.perf_counter() - started
    return result


def choose_metric(results: List[Dict[str, Any]],
                  requested: Optional[str]) -> str:
    keys: List[str] = []
    for result in results:
        for entry in result['metrics']:
            keys += [k for k in entry if k != 'iter' and k not in keys]
    if requested is not None:
        if requested not in keys:
            raise ValueError(f'metric {requested!r} was not logged; logged '
                             f'metrics: {keys}')
        return requested
    if not keys:
        raise ValueError('no validation metric was logged; the config needs '
                         'val_dataloader, val_cfg and val_evaluator')
    top1 = [k for k in keys if 'top1' in k]
    return top1[0] if top1 else keys[0]


def _format_count(value: int) -> str:
    return f'{value / 1e6:.2f}M' if value >= 1e6 else f'{value:,}'


def format_table(results: List[Dict[str, Any]], metric: str) -> str:
    """Return the Markdown table of ``results``."""
    memory_kind = results[0]['memory_kind'] if results else ''
    lines = [
        f'| strategy | trainable params (start → end) | % of total | '
        f'peak memory, MiB ({memory_kind}) | s / iter | checkpoint, MiB | '
        f'{metric} over iterations | final {metric} |',
        '| --- | --- | ---: | ---: | ---: | ---: | --- | ---: |',
    ]
    for result in results:
        curve = [e for e in result['metrics'] if metric in e]
        # Metrics keep their own unit (a fraction or a percentage).
        history = ', '.join(f"{e['iter']}: {e[metric]:.3g}" for e in curve)
        final = f'{curve[-1][metric]:.4g}' if curve else 'n/a'
        start, end = result['trainable_start'], result['trainable_end']
        trainable = _format_count(start) if start == end else \
            f'{_format_count(start)} → {_format_count(end)}'
        share = 100 * end / result['total']
        seconds = result['seconds_per_iter']
        checkpoint = result['checkpoint_mib']
        lines.append(
            f"| {result['strategy']} | {trainable} | {share:.2f} | "
            f"{result['peak_mib']:.0f} | "
            f"{'n/a' if seconds is None else f'{seconds:.3f}'} | "
            f"{'n/a' if checkpoint is None else f'{checkpoint:.2f}'} | "
            f'{history} | {final} |')
    return '\n'.join(lines)


def plot_curves(results: List[Dict[str, Any]], metric: str,
                path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for result in results:
        curve = [e for e in result['metrics'] if metric in e]
        axis.plot([e['iter'] for e in curve], [e[metric] for e in curve],
                  marker='o', label=result['strategy'])
    axis.set_xlabel('training iteration')
    axis.set_ylabel(metric)
    axis.set_title(title, fontsize=9)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    stem = osp.splitext(osp.basename(args.config))[0]
    args.work_dir = osp.abspath(
        args.work_dir or osp.join('work_dirs', 'finetune_report', stem))
    if args.worker is not None:
        run_worker(args)
        return 0

    from vidft.finetune import STRATEGIES
    strategies = [s.strip() for s in args.strategies.split(',') if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise SystemExit(f'expected strategies from {STRATEGIES}, got '
                         f'{args.strategies!r}')
    parse_peft_options(args.peft)  # reject malformed options before training
    # The workers check these too, but their errors reach only their logs.
    if args.max_iters is not None and args.max_iters <= MIN_WARMUP_ITERS:
        raise SystemExit(f'expected --max-iters > {MIN_WARMUP_ITERS}, got '
                         f'{args.max_iters}')
    if args.timeout is not None and not args.timeout > 0:
        raise SystemExit(f'expected --timeout > 0 seconds, got {args.timeout}')
    if args.val_interval is not None and args.val_interval < 1:
        raise SystemExit(f'expected --val-interval >= 1, got '
                         f'{args.val_interval}')
    for flag, value in (('--lora-lr-mult', args.lora_lr_mult),
                        ('--loraplus-lr-ratio', args.loraplus_lr_ratio)):
        if not (math.isfinite(value) and value > 0):
            raise SystemExit(f'expected {flag} to be a finite number > 0, '
                             f'got {value}')
    if args.loraplus_lr_ratio != 1.0 and 'lora' not in strategies:
        raise SystemExit('--loraplus-lr-ratio applies to the lora strategy '
                         'only; add lora to --strategies or drop the option')
    if args.lora_lr_mult != 1.0 and 'lora' not in strategies:
        raise SystemExit('--lora-lr-mult applies to the lora strategy only; '
                         'add lora to --strategies or drop the option')

    results = []
    for strategy in strategies:
        finished = osp.join(args.work_dir, strategy, RESULT_FILE)
        if args.reuse and osp.isfile(finished):
            with open(finished) as file:
                results.append(json.load(file))
            print(f'[{strategy}] reusing {finished}', flush=True)
            continue
        print(f'[{strategy}] training in {osp.join(args.work_dir, strategy)}',
              flush=True)
        results.append(run_strategy(args, strategy))
        print(f"[{strategy}] done in {results[-1]['wall_seconds']:.0f} s",
              flush=True)

    metric = choose_metric(results, args.metric)
    out_dir = args.out_dir or args.work_dir
    os.makedirs(out_dir, exist_ok=True)
    budget = (f'{args.max_iters} iterations' if args.max_iters
              else 'the train loop of the config')
    table = format_table(results, metric)
    command = ' '.join(['python', 'tools/finetune_report.py',
                        *(argv if argv is not None else sys.argv[1:])])
    with open(osp.join(out_dir, 'finetune_report.md'), 'w') as file:
        file.write(f'# Fine-tuning strategies: {stem}\n\n'
                   f'Budget: {budget}, seed {args.seed}.\n\n'
                   f'Command: `{command}`\n\n{table}\n')
    with open(osp.join(out_dir, 'finetune_report.json'), 'w') as file:
        json.dump(results, file, indent=1)
    plot_curves(results, metric, osp.join(out_dir, 'finetune_report.png'),
                f'{stem} ({budget}, seed {args.seed})')
    print(table)
    print(f'report written to {out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
