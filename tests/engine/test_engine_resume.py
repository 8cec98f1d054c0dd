"""An interrupted, resumed run ends where an uninterrupted one does.

Deterministic on CPU: the final weights, EMA weights, momentum buffers and
learning rate must be bitwise equal (tolerance 0). The toy model has
dropout, so this fails unless the random generator states are restored too.
"""
from pathlib import Path

import pytest
import torch
from mmengine.hooks import Hook

import engine_toy
from vidft.engine import build_runner


class SimulatedCrash(RuntimeError):
    pass


class CrashHook(Hook):
    """Raise before the iteration with the 0-based index ``at``."""

    def __init__(self, at: int) -> None:
        self.at = at

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == self.at:
            raise SimulatedCrash(f'interrupted at iteration {runner.iter}')


def _iter_based(work_dir: Path):
    cfg = engine_toy.make_config(str(work_dir), max_iters=8,
                                 log_level='WARNING')
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=3),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=3, end=8,
             T_max=5),
    ]
    cfg.custom_hooks = [dict(type='EMAHook', momentum=0.1)]
    return cfg


def _epoch_based(work_dir: Path):
    # 16 clips in batches of 2: 8 iterations per epoch.
    cfg = engine_toy.make_config(str(work_dir), log_level='WARNING')
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.log_processor = dict(by_epoch=True)
    cfg.param_scheduler = [
        dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3,
             T_max=3, convert_to_iter_based=True),
    ]
    cfg.custom_hooks = [dict(type='EMAHook', momentum=0.1)]
    return cfg


# (config, iteration index of the crash, checkpoint resumed, final iter)
CASES = {
    'iter_based': (_iter_based, 5, 'iter_4.pth', 8),
    'epoch_based': (_epoch_based, 12, 'epoch_1.pth', 24),
}


def _ema_state(runner) -> dict:
    return engine_toy.find_hook(runner, 'EMAHook').ema_model.state_dict()


def _assert_same_state(expected: dict, actual: dict) -> None:
    assert expected.keys() == actual.keys()
    for key in expected:
        assert torch.equal(expected[key], actual[key]), key


@pytest.mark.parametrize('case', sorted(CASES))
def test_resumed_run_matches_uninterrupted(tmp_path: Path, case: str) -> None:
    make_config, crash_at, resumed_from, final_iter = CASES[case]
    straight = build_runner(make_config(tmp_path / 'straight'))
    straight.train()

    interrupted = build_runner(make_config(tmp_path / 'resumed'))
    interrupted.register_hook(CrashHook(crash_at))
    with pytest.raises(SimulatedCrash):
        interrupted.train()
    resumed = build_runner(make_config(tmp_path / 'resumed'), resume='auto')
    logs = engine_toy.capture_logs(resumed)
    resumed.train()

    assert f'resumed from {tmp_path / "resumed" / resumed_from}' in \
        logs.text()
    assert 'restored the random generator states' in logs.text()
    assert resumed.iter == straight.iter == final_iter
    _assert_same_state(straight.model.state_dict(),
                       resumed.model.state_dict())
    _assert_same_state(_ema_state(straight), _ema_state(resumed))
    straight_state = straight.optim_wrapper.optimizer.state_dict()['state']
    resumed_state = resumed.optim_wrapper.optimizer.state_dict()['state']
    for index in straight_state:
        assert torch.equal(straight_state[index]['momentum_buffer'],
                           resumed_state[index]['momentum_buffer'])
    assert straight.optim_wrapper.get_lr() == resumed.optim_wrapper.get_lr()
