"""Two-process CPU training under torchrun (gloo), through tools/train.py."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

CONFIG = textwrap.dedent("""
    custom_imports = dict(imports=['engine_toy'], allow_failed_imports=False)
    default_scope = 'vidft'
    model = dict(type='EngineToyNet')
    train_dataloader = dict(
        dataset=dict(type='EngineToyDataset', length=16),
        sampler=dict(type='DefaultSampler', shuffle=True),
        collate_fn=dict(type='default_collate'),
        batch_size=2,
        num_workers=0)
    train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
    optim_wrapper = dict(
        type='OptimWrapper', optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
    default_hooks = dict(
        logger=dict(type='LoggerHook', interval=1),
        checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2,
                        max_keep_ckpts=2))
    custom_hooks = [dict(type='EngineToyAuditHook')]
    log_processor = dict(by_epoch=False)
    randomness = dict(seed=0)
    env_cfg = dict(dist_cfg=dict(backend='nccl', timeout=120))
""")


def _checkpoint_events(work_dir: Path, rank: int) -> list:
    events = json.loads((work_dir / f'audit_rank{rank}.json').read_text())
    return [(kind, Path(path).name) for kind, path in events
            if Path(path).suffix == '.pth']


@pytest.mark.slow
def test_torchrun_two_cpu_ranks(tmp_path: Path) -> None:
    config = tmp_path / 'toy_ddp.py'
    config.write_text(CONFIG)
    work_dir = tmp_path / 'work'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(HERE), str(REPO), env.get('PYTHONPATH', '')])
    env['CUDA_VISIBLE_DEVICES'] = ''
    env['OMP_NUM_THREADS'] = '1'

    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node=2', str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(work_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-4000:]

    # Both ranks end with the same weights, and training changed them.
    rank0 = torch.load(work_dir / 'final_rank0.pt', weights_only=True)
    rank1 = torch.load(work_dir / 'final_rank1.pt', weights_only=True)
    assert rank0.keys() == rank1.keys()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key

    # Only rank 0 wrote (renamed into place) and deleted checkpoints.
    assert _checkpoint_events(work_dir, 1) == []
    events0 = _checkpoint_events(work_dir, 0)
    written = [name for kind, name in events0 if kind == 'replace']
    removed = [name for kind, name in events0 if kind == 'remove']
    assert written == ['iter_2.pth', 'iter_4.pth', 'iter_6.pth']
    assert removed == ['iter_2.pth']
    assert sorted(p.name for p in work_dir.glob('*.pth')) == [
        'iter_4.pth', 'iter_6.pth']
    assert not list(work_dir.glob('.*.tmp'))

    # The gloo group was created by vidft, not by mmengine's CUDA path.
    assert 'initialised the gloo process group' in result.stdout + \
        result.stderr
