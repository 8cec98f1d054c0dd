"""SIGKILL a real ``tools/train.py`` run mid-epoch and while it writes a
checkpoint, resume with ``--resume auto``, and compare with an
uninterrupted run: model, optimizer, scheduler and EMA must be bitwise
equal (tolerance 0) in deterministic CPU mode.

The loop is iteration-based with 8 iterations per epoch and a checkpoint
every 4 iterations, so one resume starts in the middle of an epoch and the
sampler position matters too.
"""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import torch

from vidft.engine.checkpoint import safe_load

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CONFIG = textwrap.dedent("""
    custom_imports = dict(imports=['reliability_toy'],
                          allow_failed_imports=False)
    default_scope = 'vidft'
    model = dict(type='ReliabilityToyNet')
    train_dataloader = dict(
        dataset=dict(type='ReliabilityToyClips', length=16),
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)
    train_cfg = dict(type='IterBasedTrainLoop', max_iters=20)
    optim_wrapper = dict(
        type='OptimWrapper',
        optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.01))
    param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
             end=5),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=5, end=20,
             T_max=15),
    ]
    default_hooks = dict(
        logger=dict(type='LoggerHook', interval=4),
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4,
                        max_keep_ckpts=3))
    custom_hooks = [dict(type='EMAHook', momentum=0.1),
                    dict(type='ReliabilityCrashHook')]
    log_processor = dict(by_epoch=False)
    log_level = 'WARNING'
    env_cfg = dict(dist_cfg=dict(backend='gloo'))
""")

# Keys of a checkpoint that must match the uninterrupted run's.
COMPARED = ('state_dict', 'ema_state_dict', 'optimizer', 'param_schedulers')


def _env(extra: Dict[str, str]) -> Dict[str, str]:
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(HERE), str(REPO), env.get('PYTHONPATH', '')])
    env['CUDA_VISIBLE_DEVICES'] = ''
    env['OMP_NUM_THREADS'] = '1'
    env.update(extra)
    return env


def _train_args(config: Path, work_dir: Path, resume: bool) -> List[str]:
    args = [sys.executable, str(REPO / 'tools' / 'train.py'), str(config),
            '--work-dir', str(work_dir), '--seed', '0', '--deterministic']
    return args + (['--resume', 'auto'] if resume else [])


def _run(config: Path, work_dir: Path, resume: bool) -> None:
    result = subprocess.run(_train_args(config, work_dir, resume),
                            env=_env({}), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]


def _run_and_kill(config: Path, work_dir: Path, resume: bool,
                  crash: Dict[str, str]) -> str:
    """Start training, wait until it pauses at the crash point, SIGKILL it
    and return what the marker says."""
    marker = work_dir.parent / f'marker_{time.monotonic_ns()}'
    process = subprocess.Popen(
        _train_args(config, work_dir, resume),
        env=_env(dict(crash, RELIABILITY_MARKER=str(marker))),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while not marker.exists():
        if process.poll() is not None:
            pytest.fail(f'training ended before the crash point: '
                        f'{process.stderr.read()[-4000:]}')
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail('training did not reach the crash point in 90 s')
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return marker.read_text()


def _assert_equal(expected, actual, key: str = '') -> None:
    if isinstance(expected, torch.Tensor):
        assert torch.equal(expected, actual), key
    elif isinstance(expected, dict):
        assert expected.keys() == actual.keys(), key
        for name in expected:
            _assert_equal(expected[name], actual[name], f'{key}.{name}')
    elif isinstance(expected, (list, tuple)):
        assert len(expected) == len(actual), key
        for i, (a, b) in enumerate(zip(expected, actual)):
            _assert_equal(a, b, f'{key}[{i}]')
    else:
        assert expected == actual, key


def _pointer(work_dir: Path) -> Optional[str]:
    path = work_dir / 'last_checkpoint'
    return Path(path.read_text().strip()).name if path.exists() else None


@pytest.mark.slow
def test_sigkill_twice_then_resume_matches(tmp_path: Path) -> None:
    config = tmp_path / 'toy_resume.py'
    config.write_text(CONFIG)
    straight, killed = tmp_path / 'straight', tmp_path / 'killed'
    # The uninterrupted run goes on in parallel.
    reference = subprocess.Popen(
        _train_args(config, straight, False), env=_env({}),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    # 1. SIGKILL mid-epoch: iteration 14 is the 7th of the second epoch.
    where = _run_and_kill(config, killed, False,
                          dict(RELIABILITY_PAUSE_AT_ITER='14'))
    assert where == 'iteration 14'
    assert _pointer(killed) == 'iter_12.pth'

    # 2. Resume from iter_12 (mid-epoch) and SIGKILL while iter_16.pth is
    #    being written: its bytes are in a temporary file, not renamed.
    where = _run_and_kill(config, killed, True,
                          dict(RELIABILITY_PAUSE_IN_WRITE='iter_16.pth'))
    assert where.startswith('writing')
    assert where.endswith('iter_16.pth')
    assert not (killed / 'iter_16.pth').exists()
    assert list(killed.glob('.iter_16.pth.*.tmp'))
    assert _pointer(killed) == 'iter_12.pth'

    # 3. Add a torn iter_16.pth, as a writer that is not atomic (another
    #    tool, a full disk) leaves it, and point last_checkpoint at it:
    #    --resume auto must fall back to iter_12 and finish.
    good = (killed / 'iter_12.pth').read_bytes()
    (killed / 'iter_16.pth').write_bytes(good[:len(good) // 2])
    (killed / 'last_checkpoint').write_text(str(killed / 'iter_16.pth'))
    result = subprocess.run(_train_args(config, killed, True), env=_env({}),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    assert 'cannot resume from' in result.stdout + result.stderr

    assert reference.wait(timeout=120) == 0, reference.stderr.read()[-4000:]
    reference.stderr.close()
    expected = safe_load(str(straight / 'iter_20.pth'))
    actual = safe_load(str(killed / 'iter_20.pth'))
    for key in COMPARED:
        assert key in expected, key
        _assert_equal(expected[key], actual[key], key)
    assert expected['meta']['iter'] == actual['meta']['iter'] == 20
    _assert_equal(torch.load(straight / 'final_rank0.pt', weights_only=True),
                  torch.load(killed / 'final_rank0.pt', weights_only=True))
