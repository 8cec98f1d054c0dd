"""tools/lr_find.py: the range test, its smoothing and the suggested lr."""
import importlib.util
import math
import os.path as osp

import pytest
import torch
from torch import nn

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'lr_find.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('lr_find_tool', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lr_find = load_tool()


def regression_problem(seed: int = 0):
    """Least squares with SGD: the loss falls for lr below 2 / L, where L
    is the largest eigenvalue of the Hessian, and diverges above it."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(256, 8, generator=generator)
    targets = inputs @ torch.randn(8, 1, generator=generator) + \
        0.1 * torch.randn(256, 1, generator=generator)
    torch.manual_seed(seed)
    model = nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)

    def step(lr: float) -> float:
        for group in optimizer.param_groups:
            group['lr'] = lr
        loss = nn.functional.mse_loss(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    # Hessian of the mean squared error in (weights, bias).
    augmented = torch.cat([inputs, torch.ones(256, 1)], dim=1)
    hessian = 2 * augmented.T @ augmented / len(inputs)
    largest = torch.linalg.eigvalsh(hessian).max().item()
    return step, 2 / largest


def test_schedule_is_exponential():
    lrs = lr_find.lr_schedule(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6)
    assert lrs[-1] == pytest.approx(1.0)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert all(r == pytest.approx(10.0) for r in ratios)


@pytest.mark.parametrize('start, end, num', [(0, 1, 5), (1, 0.1, 5),
                                             (1e-3, 1, 1)])
def test_schedule_rejects_bad_ranges(start, end, num):
    with pytest.raises(ValueError):
        lr_find.lr_schedule(start, end, num)


def test_smoothing_is_bias_corrected():
    history = lr_find.range_test(lambda lr: 2.0, [1e-3, 1e-2, 1e-1],
                                 beta=0.9, diverge=4.0)
    # A constant loss stays constant once the bias is corrected.
    assert history['smoothed'] == pytest.approx([2.0, 2.0, 2.0])


def test_stops_when_loss_diverges():
    step, _ = regression_problem()
    lrs = lr_find.lr_schedule(1e-4, 100.0, 200)
    history = lr_find.range_test(step, lrs)
    assert len(history['lrs']) < len(lrs)
    best = min(history['smoothed'])
    assert history['smoothed'][-1] > lr_find.DEFAULT_DIVERGE * best or \
        not math.isfinite(history['losses'][-1])


def test_suggestion_lies_where_loss_falls():
    step, stable_limit = regression_problem()
    lrs = lr_find.lr_schedule(1e-4, 100.0, 200)
    history = lr_find.range_test(step, lrs)
    suggestion = lr_find.suggest_lr(history['lrs'], history['smoothed'])

    steepest = suggestion['steepest']
    index = history['lrs'].index(steepest)
    smoothed = history['smoothed']
    # The smoothed loss is falling at the suggested lr ...
    assert smoothed[index + 1] < smoothed[index - 1]
    # ... which is inside the tested range, below the lr of the minimum and
    # below the largest lr for which gradient descent is stable.
    assert lrs[0] < steepest < suggestion['lowest_loss_lr']
    assert steepest < stable_limit
    assert suggestion['min_over_10'] == pytest.approx(
        suggestion['lowest_loss_lr'] / 10)


def test_flat_loss_has_no_suggestion():
    lrs = lr_find.lr_schedule(1e-4, 1e-3, 10)
    with pytest.raises(ValueError, match='does not fall'):
        lr_find.suggest_lr(lrs, [1.0 + 0.01 * i for i in range(10)])


def test_plot_is_written(tmp_path):
    step, _ = regression_problem()
    history = lr_find.range_test(step, lr_find.lr_schedule(1e-4, 100.0, 100))
    suggestion = lr_find.suggest_lr(history['lrs'], history['smoothed'])
    path = str(tmp_path / 'lr.png')
    lr_find.plot(history, suggestion, path, 'toy')
    assert osp.getsize(path) > 1000


@pytest.mark.parametrize('argv, message', [
    (['--num-iters', '2'], 'expected --num-iters >= 3, got 2'),
    (['--start-lr', '1', '--end-lr', '1e-3'], 'pass 0 < --start-lr < --end-lr'),
    (['--out', 'no_such_folder/lr.png'], 'no_such_folder/lr.png does not exist'),
])
def test_bad_options_stop_before_training(monkeypatch, argv, message):
    # The config does not exist: the options are checked before it loads.
    def no_training(*args, **kwargs):
        raise AssertionError('the range test must not start')

    monkeypatch.setattr(lr_find, 'build_step', no_training)
    with pytest.raises(SystemExit, match=message):
        lr_find.main(['missing_config.py', *argv])


def test_range_test_records_stop_reason():
    step, _ = regression_problem()
    history = lr_find.range_test(step, lr_find.lr_schedule(1e-4, 100.0, 200))
    assert history['stop_reason'] == lr_find.DIVERGED

    history = lr_find.range_test(lambda lr: 2.0, [1e-3, 1e-2, 1e-1])
    assert history['stop_reason'] is None

    losses = iter([1.0, 0.9, math.nan, 0.5])
    history = lr_find.range_test(lambda lr: next(losses),
                                 [1e-3, 1e-2, 1e-1, 1.0])
    assert history['stop_reason'] == lr_find.NON_FINITE
    assert history['lrs'] == [1e-3, 1e-2]


def run_main(monkeypatch, tmp_path, step, argv):
    """Run the tool's main() with ``step`` in place of the model's."""
    import vidft.config

    monkeypatch.setattr(vidft.config, 'load_config', lambda *args: None)
    monkeypatch.setattr(lr_find, 'build_step', lambda cfg, seed: step)
    return lr_find.main(['toy_config.py', '--out', str(tmp_path / 'lr.png'),
                         *argv])


def test_main_prints_stop_reason(monkeypatch, tmp_path, capsys):
    step, _ = regression_problem()
    status = run_main(monkeypatch, tmp_path, step,
                      ['--start-lr', '1e-4', '--end-lr', '100'])
    assert status == 0
    output = capsys.readouterr()
    assert 'of 200 iterations' in output.out
    assert 'because the smoothed loss' in output.out
    assert 'exceeded --diverge 4 times its lowest value' in output.out
    assert output.err == ''


def test_main_names_nonfinite_stop(monkeypatch, tmp_path, capsys):
    def step(lr: float) -> float:
        return math.nan if lr > 0.5 else 1.0 / (1.0 + 100 * lr)

    status = run_main(monkeypatch, tmp_path, step,
                      ['--start-lr', '1e-4', '--end-lr', '10'])
    assert status == 0
    output = capsys.readouterr().out
    assert 'stopped at iteration' in output
    assert 'was not finite' in output


def test_short_curve_warns_unreliable(monkeypatch, tmp_path, capsys):
    step, _ = regression_problem()
    status = run_main(monkeypatch, tmp_path, step,
                      ['--start-lr', '1e-4', '--end-lr', '100',
                       '--num-iters', '20'])
    assert status == 0
    output = capsys.readouterr()
    assert 'because the smoothed loss' in output.out
    assert 'lr_find: warning: the suggestion comes from' in output.err
    assert 'fewer than the 50 iterations' in output.err
    assert 'Raise --num-iters, or lower --end-lr' in output.err


def test_flat_curve_warns_unreliable(monkeypatch, tmp_path, capsys):
    # The loss falls by 2% over the whole range and never diverges.
    def step(lr: float) -> float:
        return 1.0 - 0.02 * (math.log10(lr) + 4) / 4

    status = run_main(monkeypatch, tmp_path, step,
                      ['--start-lr', '1e-4', '--end-lr', '1'])
    assert status == 0
    output = capsys.readouterr()
    assert 'stopped' not in output.out
    assert 'the curve is nearly flat' in output.err
    assert 'lower --start-lr, or raise --end-lr' in output.err
    assert 'comes from' not in output.err


def test_early_stop_named_without_suggestion(monkeypatch, tmp_path):
    def step(lr: float) -> float:
        return 1.0 if lr < 1e-3 else math.inf

    with pytest.raises(SystemExit, match='The test stopped at iteration 2 '
                       'because the loss at lr 1.00e-02 was not finite'):
        run_main(monkeypatch, tmp_path, step,
                 ['--start-lr', '1e-4', '--end-lr', '1', '--num-iters', '3'])
