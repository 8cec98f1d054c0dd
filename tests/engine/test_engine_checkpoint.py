"""Safe loading, atomic writing, checkpoint discovery and resume fallback."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import load_checkpoint as mmengine_load_checkpoint

import engine_toy
from vidft.engine import build_runner
from vidft.engine.checkpoint import (CheckpointLoadError, atomic_save,
                                     find_checkpoints, install_safe_loader,
                                     safe_load)


class RunsShellCommand:
    """Pickles to a call of os.system; loading it must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class AsksForAttribute:
    """Pickles to getattr(HistoryBuffer, '__init__')."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, '__init__'))


class CustomState:
    """A plain class outside the allowlist."""

    def __init__(self, value: int) -> None:
        self.value = value


def _message_hub_state() -> dict:
    hub = MessageHub.get_instance('engine_checkpoint_test')
    hub.update_scalar('train/loss', 0.75)
    hub.update_scalar('train/loss', torch.tensor(0.5))
    hub.update_info('iter', 3)
    return hub.state_dict()


def test_safe_load_reads_mmengine_state(tmp_path: Path) -> None:
    path = str(tmp_path / 'state.pth')
    atomic_save({'message_hub': _message_hub_state(),
                 'scalar': np.float32(2.5),
                 'array': np.arange(4, dtype=np.int64),
                 'weights': {'w': torch.ones(2)}}, path)

    loaded = safe_load(path)

    buffer = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    assert buffer.mean() == pytest.approx(0.625)
    assert buffer.statistics('current') == pytest.approx(0.5)
    assert loaded['message_hub']['runtime_info']['iter'] == 3
    assert loaded['scalar'] == np.float32(2.5)
    assert loaded['array'].tolist() == [0, 1, 2, 3]
    assert torch.equal(loaded['weights']['w'], torch.ones(2))


def test_pickle_that_runs_code_is_rejected(tmp_path: Path) -> None:
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': RunsShellCommand(marker)}, path)

    with pytest.raises(CheckpointLoadError, match='system') as info:
        safe_load(str(path))
    assert info.value.path == str(path)

    # mmengine's own loader, once routed through safe_load, rejects it too.
    install_safe_loader()
    with pytest.raises(CheckpointLoadError):
        mmengine_load_checkpoint(torch.nn.Linear(2, 2), str(path))

    # Plain torch.load (weights_only by default in torch 2.6+) rejects it.
    with pytest.raises(Exception, match='system'):
        torch.load(path)
    assert not marker.exists()


def test_getattr_allows_history_methods_only(tmp_path: Path) -> None:
    path = tmp_path / 'getattr.pth'
    torch.save({'method': AsksForAttribute()}, path)

    with pytest.raises(CheckpointLoadError, match='__init__'):
        safe_load(str(path))


def test_trust_loads_classes_outside_allowlist(tmp_path: Path) -> None:
    path = tmp_path / 'custom.pth'
    torch.save({'extra': CustomState(5)}, path)

    with pytest.raises(CheckpointLoadError, match='CustomState'):
        safe_load(str(path))
    assert safe_load(str(path), trust=True)['extra'].value == 5


def test_safe_load_rejects_urls_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='local checkpoint'):
        safe_load('https://example.com/model.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        safe_load(str(tmp_path / 'missing.pth'))


def test_atomic_save_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = tmp_path / 'iter_1.pth'
    atomic_save({'version': 1}, str(path))

    with pytest.raises(Exception):
        atomic_save({'unpicklable': lambda: None}, str(path))

    assert safe_load(str(path)) == {'version': 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_1.pth']


def test_find_checkpoints_newest_first(tmp_path: Path) -> None:
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_4.pth', 'notes.pth',
                 '.iter_12.pth.1.ab.tmp'):
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_10.pth'))

    found = [Path(p).name for p in find_checkpoints(str(tmp_path))]

    assert found == ['iter_10.pth', 'iter_4.pth', 'iter_2.pth']


def _train(work_dir: Path, max_iters: int, **build_kwargs):
    cfg = engine_toy.make_config(str(work_dir), max_iters=max_iters,
                                 log_level='WARNING')
    runner = build_runner(cfg, **build_kwargs)
    logs = engine_toy.capture_logs(runner)
    runner.train()
    return runner, logs


def test_resume_auto_falls_back_from_corrupt_checkpoint(
        tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    _train(work_dir, max_iters=6)
    assert sorted(p.name for p in work_dir.glob('iter_*.pth')) == [
        'iter_2.pth', 'iter_4.pth', 'iter_6.pth']
    newest = work_dir / 'iter_6.pth'
    newest.write_bytes(newest.read_bytes()[:200])  # a crash mid-copy

    runner, logs = _train(work_dir, max_iters=8, resume='auto')

    assert f'cannot resume from {newest}' in logs.text()
    assert f"falling back to {work_dir / 'iter_4.pth'}" in logs.text()
    assert f"resumed from {work_dir / 'iter_4.pth'}" in logs.text()
    assert runner.iter == 8


def test_resume_auto_raises_when_no_checkpoint_loads(tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    for name in ('iter_2.pth', 'iter_4.pth'):
        (work_dir / name).write_bytes(b'not a checkpoint')

    with pytest.raises(RuntimeError, match='none of the checkpoints'):
        _train(work_dir, max_iters=4, resume='auto')


def test_resume_auto_without_checkpoints_starts_fresh(tmp_path: Path) -> None:
    runner, logs = _train(tmp_path / 'work', max_iters=2, resume='auto')

    assert 'starting from scratch' in logs.text()
    assert runner.iter == 2


def test_resume_explicit_corrupt_checkpoint_raises(tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    broken = work_dir / 'iter_2.pth'
    broken.write_bytes(b'truncated')

    with pytest.raises(CheckpointLoadError, match='iter_2.pth'):
        _train(work_dir, max_iters=4, resume=str(broken))


def test_resume_into_other_head_shape_raises(tmp_path: Path) -> None:
    work_dir = tmp_path / 'work'
    _train(work_dir, max_iters=2)
    checkpoint = work_dir / 'iter_2.pth'
    state = torch.load(checkpoint, weights_only=False)
    state['state_dict']['head.weight'] = torch.zeros(7, 4)
    torch.save(state, checkpoint)

    with pytest.raises(ValueError) as info:
        _train(work_dir, max_iters=4, resume=str(checkpoint))

    message = str(info.value)
    assert f'cannot resume from {checkpoint}' in message
    assert 'head.weight (7, 4) in the checkpoint' in message
    assert f'load_from={checkpoint}' in message


def test_load_from_goes_through_safe_load(tmp_path: Path) -> None:
    marker = tmp_path / 'code_ran'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': RunsShellCommand(marker)}, evil)
    cfg = engine_toy.make_config(str(tmp_path / 'work'), max_iters=2,
                                 log_level='WARNING', load_from=str(evil))

    with pytest.raises(CheckpointLoadError):
        build_runner(cfg).train()
    assert not marker.exists()


def test_load_from_of_another_model_raises(tmp_path: Path) -> None:
    other = tmp_path / 'other_model.pth'
    torch.save({'state_dict': {'spynet.conv.weight': torch.zeros(2, 2)}},
               other)
    cfg = engine_toy.make_config(str(tmp_path / 'work'), max_iters=2,
                                 log_level='WARNING', load_from=str(other))

    with pytest.raises(ValueError, match='does not match the model') as info:
        build_runner(cfg).train()
    assert 'other_model.pth' in str(info.value)
    assert 'spynet.conv.weight' in str(info.value)


def test_misspelt_checkpoint_argument_fails_before_training(
        tmp_path: Path) -> None:
    cfg = engine_toy.make_config(str(tmp_path / 'work'), max_iters=2,
                                 log_level='WARNING')
    cfg.default_hooks.checkpoint['intervall'] = 1
    runner = build_runner(cfg)

    with pytest.raises(TypeError, match="'intervall' \\(did you mean "
                       "'interval'\\?\\)"):
        runner.train()
    assert runner.iter == 0
    assert not list((tmp_path / 'work').glob('*.pth'))
