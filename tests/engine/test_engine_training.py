"""Training features of the runner: schedules, AMP, accumulation, clipping,
EMA, non-finite losses, logs and the curve plot."""
import json
import math
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper as MMEngineAmpOptimWrapper

import engine_toy
from vidft.engine import build_runner


class ParameterRecorder(Hook):
    """Record the learning rate before, and the weights after, each
    iteration."""

    def __init__(self) -> None:
        self.lrs: List[float] = []
        self.before: List[Dict[str, torch.Tensor]] = []
        self.after: List[Dict[str, torch.Tensor]] = []

    def _weights(self, runner) -> Dict[str, torch.Tensor]:
        return {name: param.detach().clone()
                for name, param in runner.model.named_parameters()}

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])
        self.before.append(self._weights(runner))

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.after.append(self._weights(runner))


class StepCounter(Hook):
    """Count optimizer.step() calls."""

    def __init__(self) -> None:
        self.steps = 0

    def before_train(self, runner) -> None:
        runner.optim_wrapper.optimizer.register_step_post_hook(self._count)

    def _count(self, optimizer, args, kwargs) -> None:
        self.steps += 1


def _config(tmp_path: Path, max_iters: int = 8, **overrides):
    cfg = engine_toy.make_config(str(tmp_path / 'work'), max_iters=max_iters,
                                 log_level='WARNING', **overrides)
    return cfg


def _norm(delta: Dict[str, torch.Tensor]) -> float:
    return math.sqrt(sum(float(t.pow(2).sum()) for t in delta.values()))


def test_warmup_cosine_schedule_values(tmp_path: Path) -> None:
    base_lr, warmup, total, eta_min = 0.05, 4, 12, 0.001
    cfg = _config(tmp_path, max_iters=total)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=warmup),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup,
             end=total, eta_min=eta_min),
    ]
    runner = build_runner(cfg)
    recorder = ParameterRecorder()
    runner.register_hook(recorder)
    runner.train()

    expected = []
    for step in range(total):
        if step < warmup:
            # Linear from 0.1 * base_lr at step 0 to base_lr at step 3.
            factor = 0.1 + 0.9 * step / (warmup - 1)
            expected.append(base_lr * factor)
        else:
            phase = math.pi * (step - warmup) / (total - warmup)
            expected.append(eta_min + (base_lr - eta_min) *
                            (1 + math.cos(phase)) / 2)
    assert recorder.lrs == pytest.approx(expected, rel=1e-6)


def test_amp_flag_builds_amp_wrapper_on_cpu(tmp_path: Path) -> None:
    runner = build_runner(_config(tmp_path, max_iters=2), amp=True)
    runner.train()

    assert isinstance(runner.optim_wrapper, MMEngineAmpOptimWrapper)
    assert runner.optim_wrapper.cast_dtype == torch.bfloat16
    assert runner.model.last_logits_dtype == torch.bfloat16
    for param in runner.model.parameters():
        assert param.dtype == torch.float32
        assert torch.isfinite(param).all()


def test_accumulation_makes_two_steps_in_eight(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_iters=8)
    cfg.optim_wrapper.accumulative_counts = 4
    runner = build_runner(cfg)
    counter = StepCounter()
    runner.register_hook(counter)
    runner.train()

    assert counter.steps == 2


def test_grad_clip_bounds_update(tmp_path: Path) -> None:
    max_norm = 0.01
    cfg = _config(tmp_path, max_iters=4)
    cfg.optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=1.0),
        clip_grad=dict(max_norm=max_norm))
    runner = build_runner(cfg)
    recorder = ParameterRecorder()
    runner.register_hook(recorder)
    runner.train()

    # With plain SGD and lr=1 the update is minus the clipped gradient.
    for before, after in zip(recorder.before, recorder.after):
        delta = {name: after[name] - before[name] for name in before}
        assert _norm(delta) <= max_norm * (1 + 1e-4)
    pre_clip_norms = runner.message_hub.get_scalar('train/grad_norm').data[0]
    assert max(pre_clip_norms) > max_norm  # clipping really happened


def test_ema_weights_follow_formula(tmp_path: Path) -> None:
    momentum = 0.25
    cfg = _config(tmp_path, max_iters=5)
    cfg.custom_hooks = [dict(type='EMAHook', momentum=momentum)]
    runner = build_runner(cfg)
    recorder = ParameterRecorder()
    runner.register_hook(recorder)
    runner.train()

    # The first update copies the weights; later ones blend them in.
    expected = dict(recorder.after[0])
    for weights in recorder.after[1:]:
        expected = {name: (1 - momentum) * expected[name] +
                    momentum * weights[name] for name in expected}
    ema = dict(engine_toy.find_hook(runner, 'EMAHook')
               .ema_model.module.named_parameters())
    raw = {name: param.detach()
           for name, param in runner.model.named_parameters()}
    for name, value in expected.items():
        torch.testing.assert_close(ema[name].detach(), value, rtol=0,
                                   atol=1e-6)
    assert max(float((ema[n].detach() - raw[n]).abs().max())
               for n in raw) > 1e-4


def test_nonfinite_loss_raises_with_iteration(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cfg.train_dataloader.dataset.nan_indices = [6]
    cfg.train_dataloader.sampler.shuffle = False
    runner = build_runner(cfg)

    # Samples 6 and 7 form the 4th batch.
    with pytest.raises(FloatingPointError,
                       match=r'iteration 4 .*loss=nan, loss_cls=nan'):
        runner.train()
    for param in runner.model.parameters():
        assert torch.isfinite(param).all()
    assert sorted(p.name for p in (tmp_path / 'work').glob('*.pth')) == [
        'iter_2.pth']


def test_nonfinite_loss_skipped_and_counted(tmp_path: Path) -> None:
    cfg = _config(tmp_path, skip_nonfinite=True)
    cfg.train_dataloader.dataset.nan_indices = [6, 12]
    cfg.train_dataloader.sampler.shuffle = False
    runner = build_runner(cfg)
    logs = engine_toy.capture_logs(runner)
    recorder = ParameterRecorder()
    runner.register_hook(recorder)
    runner.train()

    assert runner.iter == 8
    assert runner.message_hub.get_info('nonfinite_skips') == 2
    assert 'skipped the update of iteration 4' in logs.text()
    assert 'skipped the update of iteration 7' in logs.text()
    assert 'skipped 2 steps with a non-finite loss' in logs.text()
    # Iteration 4 (index 3) left the weights as they were.
    for name, value in recorder.before[3].items():
        assert torch.equal(recorder.after[3][name], value)
    for param in runner.model.parameters():
        assert torch.isfinite(param).all()


def test_curve_png_and_json_log_written(tmp_path: Path) -> None:
    cfg = engine_toy.with_validation(_config(tmp_path, max_iters=8))
    runner = build_runner(cfg)
    runner.train()
    work_dir = tmp_path / 'work'

    png = work_dir / 'training_curves.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert png.stat().st_size > 5000

    log_dir = Path(runner.log_dir)
    records = [json.loads(line) for line in
               (log_dir / 'vis_data' / f'{runner.timestamp}.json')
               .read_text().splitlines()]
    train_steps = [r['step'] for r in records if 'loss' in r]
    assert train_steps == list(range(1, 9))
    accuracy = [r['toy/accuracy'] for r in records if 'toy/accuracy' in r]
    assert len(accuracy) == 2
    assert list((log_dir / 'vis_data').glob('events.out.tfevents.*'))

    curves = engine_toy.find_hook(runner, 'TrainingCurveHook')
    assert [step for step, _ in curves.metrics['toy/accuracy']] == [4, 8]
    assert [step for step, _ in curves.loss] == list(range(1, 9))


def test_validation_without_train_split(tmp_path: Path) -> None:
    # runner.val() outside training must not build the training dataset,
    # whose annotation file does not exist here.
    cfg = engine_toy.with_validation(_config(tmp_path))
    cfg.train_dataloader.dataset = dict(
        type='BaseVideoDataset', ann_file=str(tmp_path / 'train_list.json'))
    cfg.val_dataloader.dataset = dict(
        type='EngineToyBadSampleDataset', length=6, seed=1, failed_loads=[2])
    runner = build_runner(cfg)

    metrics = runner.val()
    assert 'toy/accuracy' in metrics
    curves = engine_toy.find_hook(runner, 'TrainingCurveHook')
    assert curves.metrics == {}
    reports = engine_toy.find_hook(runner, 'BadSampleReportHook')
    assert reports.totals == {'val': 1}



def _bad_sample_run(tmp_path: Path, **loop):
    """Build a run of 8 toy clips per epoch and 2 per batch. 7 loads fail
    in the first epoch and 3 in the second, 1 in the first validation and 2
    in the second."""
    cfg = engine_toy.with_validation(_config(tmp_path), val_interval=1)
    cfg.log_level = 'INFO'
    cfg.train_dataloader.dataset = dict(
        type='EngineToyBadSampleDataset', length=8,
        failed_loads=[0, 1, 2, 3, 4, 5, 6, 8, 9, 10])
    cfg.val_dataloader.dataset = dict(
        type='EngineToyBadSampleDataset', length=6, seed=1,
        failed_loads=[0, 6, 7])
    cfg.train_cfg = dict(loop)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.log_processor = dict(by_epoch=loop['type'] == 'EpochBasedTrainLoop')
    runner = build_runner(cfg)
    return runner, engine_toy.capture_logs(runner)


def _scalar_records(runner) -> List[dict]:
    path = Path(runner.log_dir) / 'vis_data' / f'{runner.timestamp}.json'
    return [json.loads(line) for line in path.read_text().splitlines()]


def _bad_sample_reports(tmp_path: Path, **train_cfg) -> List[str]:
    runner, logs = _bad_sample_run(tmp_path, **train_cfg)
    runner.train()
    return [m for m in logs.messages if 'sample loads failed' in m]


def test_bad_sample_epochs_count_from_one(tmp_path: Path) -> None:
    reports = _bad_sample_reports(tmp_path, type='EpochBasedTrainLoop',
                                  max_epochs=2, val_interval=1)

    assert [m.split(':')[0] for m in reports] == [
        'train epoch 1', 'val epoch 1', 'train epoch 2', 'val epoch 2']
    assert reports[0].startswith('train epoch 1: 7 sample loads failed')
    assert reports[1].startswith('val epoch 1: 1 sample loads failed')
    assert reports[2].startswith('train epoch 2: 3 sample loads failed')
    assert reports[3].startswith('val epoch 2: 2 sample loads failed')
    assert '(10 in this run)' in reports[2]


def test_bad_sample_scalar_is_current_epoch(tmp_path: Path) -> None:
    runner, _ = _bad_sample_run(tmp_path, type='EpochBasedTrainLoop',
                                max_epochs=2, val_interval=1)
    runner.train()
    records = _scalar_records(runner)

    # Loads 0 to 6 fail in epoch 1 and loads 8 to 10 in epoch 2, two loads
    # per iteration, so each train record shows its epoch's count so far.
    train = [(r['epoch'], r['iter'], r['bad_samples']) for r in records
             if 'loss' in r]
    assert train == [(1, 1, 2), (1, 2, 4), (1, 3, 6), (1, 4, 7),
                     (2, 5, 2), (2, 6, 3), (2, 7, 3), (2, 8, 3)]
    val = [r['bad_samples'] for r in records if 'toy/accuracy' in r]
    assert val == [1, 2]


def test_bad_sample_iterations_are_named(tmp_path: Path) -> None:
    reports = _bad_sample_reports(tmp_path, type='IterBasedTrainLoop',
                                  max_iters=8, val_interval=4)

    # An iteration-based loop runs one epoch, reported when training ends.
    assert [m.split(':')[0] for m in reports] == [
        'val at iteration 4', 'val at iteration 8', 'train up to iteration 8']
    assert reports[2].startswith(
        'train up to iteration 8: 10 sample loads failed')
