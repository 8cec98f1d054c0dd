"""Learning-rate range test for a config.

    python tools/lr_find.py CONFIG [--start-lr 1e-7] [--end-lr 10] \\
        [--num-iters 200] [--out lr_find.png]

Trains the model of CONFIG from its initial (pretrained) weights while the
learning rate grows exponentially from ``--start-lr`` to ``--end-lr`` over
``--num-iters`` iterations (L. N. Smith, "Cyclical Learning Rates for
Training Neural Networks", 2017). Param groups keep their ratios to the base
lr, so ``lr_mult`` settings stay in force. The loss is smoothed by an
exponential moving average with bias correction
(``avg = beta * avg + (1 - beta) * loss``, shown as ``avg / (1 - beta**k)``
after k iterations). The test stops early once the smoothed loss exceeds
``--diverge`` times the lowest smoothed loss so far, or is not finite, and
prints which of the two stopped it.

Suggested value: the lr where the smoothed loss falls fastest, that is the
most negative slope of smoothed loss over log10(lr), searched between the
start and the lr of the lowest smoothed loss. The minimum's lr divided by 10
is printed as a second opinion. The plot marks both. A warning flags the
suggestion as unreliable when the searched part of the curve is shorter
than the moving average's window, or the smoothed loss barely falls in it.
"""
import argparse
import math
import os.path as osp
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

DEFAULT_BETA = 0.98
DEFAULT_DIVERGE = 4.0

# Points of the range test that a suggestion needs.
MIN_POINTS = 3

# Leading share of the curve left out of the slope search: the moving
# average is still dominated by its first values there.
SKIP_FRACTION = 0.1

# Searched points below which a suggestion is unreliable, for any --beta.
MIN_RELIABLE_POINTS = 10

# Relative fall of the smoothed loss below which the curve counts as flat.
# A judgement call, not a measured limit.
FLAT_RELATIVE_DROP = 0.05

# Values of range_test's 'stop_reason'.
DIVERGED = 'diverged'
NON_FINITE = 'non-finite'


def lr_schedule(start_lr: float, end_lr: float, num_iters: int) -> List[float]:
    """Return ``num_iters`` lrs growing exponentially from start to end."""
    if not 0 < start_lr < end_lr:
        raise ValueError(f'expected 0 < start_lr < end_lr, got {start_lr} '
                         f'and {end_lr}')
    if num_iters < 2:
        raise ValueError(f'expected num_iters >= 2, got {num_iters}')
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / (num_iters - 1))
            for i in range(num_iters)]


def range_test(step: Callable[[float], float], lrs: Sequence[float],
               beta: float = DEFAULT_BETA,
               diverge: float = DEFAULT_DIVERGE) -> Dict[str, Any]:
    """Run ``step(lr) -> loss`` for each lr until the loss diverges.

    Returns:
        ``lrs``, raw ``losses`` and bias-corrected ``smoothed`` losses of the
        iterations that ran, and ``stop_reason``: :data:`DIVERGED` when the
        smoothed loss exceeded ``diverge`` times its minimum (that iteration
        is kept), :data:`NON_FINITE` when it was not finite (that iteration
        is left out), or None when every lr ran.
    """
    if not 0 <= beta < 1:
        raise ValueError(f'expected 0 <= beta < 1, got {beta}')
    if diverge <= 1:
        raise ValueError(f'expected diverge > 1, got {diverge}')
    history: Dict[str, Any] = dict(lrs=[], losses=[], smoothed=[],
                                   stop_reason=None)
    average, best = 0.0, math.inf
    for index, lr in enumerate(lrs):
        loss = float(step(lr))
        average = beta * average + (1 - beta) * loss
        smoothed = average / (1 - beta ** (index + 1))
        if not math.isfinite(smoothed):
            history['stop_reason'] = NON_FINITE
            break
        history['lrs'].append(lr)
        history['losses'].append(loss)
        history['smoothed'].append(smoothed)
        best = min(best, smoothed)
        if smoothed > diverge * best:
            history['stop_reason'] = DIVERGED
            break
    return history


def suggest_lr(lrs: Sequence[float], smoothed: Sequence[float]
               ) -> Dict[str, float]:
    """Return ``'steepest'`` (the suggestion) and ``'min_over_10'``.

    Also returns ``'lowest_loss_lr'``, the number of ``'searched_points'``
    (from the start of the slope search to the lowest loss), and the
    ``'relative_drop'`` of the smoothed loss over them, for
    :func:`reliability_warnings`.

    Raises:
        ValueError: Fewer than 3 points, or the loss never falls.
    """
    if len(lrs) < MIN_POINTS:
        raise ValueError(f'expected at least {MIN_POINTS} points of the '
                         f'range test, got {len(lrs)}; lower --start-lr or '
                         'raise --num-iters')
    losses = np.asarray(smoothed, dtype=float)
    log_lrs = np.log10(np.asarray(lrs, dtype=float))
    lowest = int(np.argmin(losses))
    first = min(int(len(losses) * SKIP_FRACTION), max(lowest - 2, 0))
    if lowest - first < 2:
        raise ValueError('the smoothed loss does not fall over the tested '
                         'range; lower --start-lr')
    slopes = np.gradient(losses[first:lowest + 1], log_lrs[first:lowest + 1])
    steepest = first + int(np.argmin(slopes))
    drop = (losses[first] - losses[lowest]) / abs(losses[first])
    return dict(steepest=float(lrs[steepest]),
                min_over_10=float(lrs[lowest]) / 10,
                lowest_loss_lr=float(lrs[lowest]),
                searched_points=lowest - first + 1,
                relative_drop=float(drop))


def describe_stop(history: Dict[str, Any], lrs: Sequence[float],
                  diverge: float) -> Optional[str]:
    """Return why :func:`range_test` stopped, or None when every lr ran."""
    ran = len(history['lrs'])
    if history['stop_reason'] == DIVERGED:
        return (f'stopped after iteration {ran} because the smoothed loss '
                f"{history['smoothed'][-1]:.4g} exceeded --diverge "
                f"{diverge:g} times its lowest value "
                f"{min(history['smoothed']):.4g}")
    if history['stop_reason'] == NON_FINITE:
        return (f'stopped at iteration {ran + 1} because the loss at lr '
                f'{lrs[ran]:.2e} was not finite')
    return None


def reliability_warnings(suggestion: Dict[str, float], beta: float,
                         stopped_early: bool) -> List[str]:
    """Return a warning for each reason the suggestion may be unreliable,
    each naming the options to change."""
    warnings = []
    points = int(suggestion['searched_points'])
    # The weights of the moving average fall by a factor of e over about
    # 1 / (1 - beta) iterations.
    window = max(MIN_RELIABLE_POINTS, round(1 / (1 - beta)))
    if points < window:
        fix = 'Raise --num-iters'
        if stopped_early:
            fix += ', or lower --end-lr so that more of them come before ' \
                'the loss diverges'
        warnings.append(
            f'the suggestion comes from {points} points of the smoothed '
            f'curve, fewer than the {window} iterations that the moving '
            f'average with --beta {beta:g} spans, so it is unreliable. '
            f'{fix}.')
    drop = suggestion['relative_drop']
    if drop < FLAT_RELATIVE_DROP:
        warnings.append(
            f'the smoothed loss falls only {drop:.1%} before its minimum, so '
            'the curve is nearly flat and the suggestion is unreliable. '
            'Widen the lr range: lower --start-lr, or raise --end-lr if the '
            'loss did not diverge.')
    return warnings


def plot(history: Dict[str, List[float]], suggestion: Dict[str, float],
         path: str, title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    axis.plot(history['lrs'], history['losses'], color='0.75',
              label='loss')
    axis.plot(history['lrs'], history['smoothed'], label='smoothed loss')
    axis.axvline(suggestion['steepest'], color='C1', linestyle='--',
                 label=f"steepest descent {suggestion['steepest']:.2e}")
    axis.axvline(suggestion['min_over_10'], color='C2', linestyle=':',
                 label=f"minimum / 10 {suggestion['min_over_10']:.2e}")
    axis.set_xscale('log')
    axis.set_xlabel('learning rate')
    axis.set_ylabel('training loss')
    axis.set_title(title)
    # Show the falling part: cut the axis where the loss has diverged.
    lowest, highest = min(history['smoothed']), max(history['smoothed'])
    if lowest > 0:
        axis.set_ylim(0, min(highest, DEFAULT_DIVERGE * lowest) * 1.05)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='path of the Python config file')
    parser.add_argument('--start-lr', type=float, default=1e-7,
                        help='base lr of the first iteration (default 1e-7)')
    parser.add_argument('--end-lr', type=float, default=10.0,
                        help='base lr of the last iteration (default 10)')
    parser.add_argument('--num-iters', type=int, default=200,
                        help='iterations of the test (default 200)')
    parser.add_argument('--beta', type=float, default=DEFAULT_BETA,
                        help='smoothing factor of the moving average '
                        '(default %(default)s)')
    parser.add_argument('--diverge', type=float, default=DEFAULT_DIVERGE,
                        help='stop once the smoothed loss exceeds this factor '
                        'of its minimum (default %(default)s)')
    parser.add_argument('--seed', type=int, default=0,
                        help='random seed (default 0)')
    parser.add_argument('--out', default=None,
                        help='plot file (default: lr_find_<config name>.png)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE', help='override config keys')
    return parser.parse_args(argv)


def build_step(cfg, seed: int) -> Callable[[float], float]:
    """Return ``step(lr) -> loss`` training the model of ``cfg``."""
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import set_random_seed

    from vidft.engine import VidftRunner
    from vidft.registry import MODELS

    set_random_seed(seed)
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'vidft')):
        model = MODELS.build(cfg.model)
        model.init_weights()
        model.train()
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        loader = VidftRunner.build_dataloader(cfg.train_dataloader,
                                              seed=seed)
    optimizer = optim_wrapper.optimizer
    base_lr = optimizer.defaults.get('lr') or optimizer.param_groups[0]['lr']
    ratios = [group['lr'] / base_lr for group in optimizer.param_groups]
    batches = iter(loader)

    def step(lr: float) -> float:
        nonlocal batches
        for group, ratio in zip(optimizer.param_groups, ratios):
            group['lr'] = lr * ratio
        try:
            data = next(batches)
        except StopIteration:
            batches = iter(loader)
            data = next(batches)
        log_vars = model.train_step(data, optim_wrapper)
        loss = log_vars['loss']
        return float(loss.item() if torch.is_tensor(loss) else loss)

    return step


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    from vidft.config import load_config

    # Checked before the test, which trains for minutes.
    if args.num_iters < MIN_POINTS:
        raise SystemExit(f'expected --num-iters >= {MIN_POINTS}, got '
                         f'{args.num_iters}')
    try:
        lrs = lr_schedule(args.start_lr, args.end_lr, args.num_iters)
    except ValueError as error:
        raise SystemExit(f'{error}; pass 0 < --start-lr < --end-lr') from None
    stem = osp.splitext(osp.basename(args.config))[0]
    out = args.out or f'lr_find_{stem}.png'
    folder = osp.dirname(osp.abspath(out))
    if not osp.isdir(folder):
        raise SystemExit(f'the folder of --out {out} does not exist; create '
                         f'{folder} first')
    cfg = load_config(args.config, args.cfg_options or None)
    step = build_step(cfg, args.seed)
    history = range_test(step, lrs, beta=args.beta, diverge=args.diverge)
    stop = describe_stop(history, lrs, args.diverge)
    try:
        suggestion = suggest_lr(history['lrs'], history['smoothed'])
    except ValueError as error:
        reason = f'. The test {stop}' if stop else ''
        raise SystemExit(f'no suggestion: {error}{reason}') from None

    plot(history, suggestion, out, f'lr range test: {stem}')
    ran = len(history['lrs'])
    print(f'ran {ran} of {args.num_iters} iterations '
          f"(lr {history['lrs'][0]:.2e} to {history['lrs'][-1]:.2e})")
    if stop:
        print(stop)
    print(f"suggested lr (steepest descent of the smoothed loss): "
          f"{suggestion['steepest']:.3e}")
    print(f"lr of the lowest smoothed loss / 10: "
          f"{suggestion['min_over_10']:.3e}")
    print(f'plot written to {out}')
    for warning in reliability_warnings(suggestion, args.beta,
                                        stop is not None):
        print(f'lr_find: warning: {warning}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
