"""A rank killed mid-run under ``torchrun --max-restarts=1`` makes torchrun
restart the group, which resumes from the last checkpoint by itself
(``resume = 'auto'`` in the config) and finishes."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from test_reliability_kill_resume import CONFIG, HERE, REPO

RESTART_CONFIG = CONFIG.replace('max_iters=20', 'max_iters=12') + \
    "resume = 'auto'\n"
RESTART_CONFIG = RESTART_CONFIG.replace("log_level = 'WARNING'",
                                        "log_level = 'INFO'")


def _failure_report(result: subprocess.CompletedProcess) -> str:
    """The end of both streams, without the library warnings that would
    otherwise fill the stderr tail."""
    noise = ('Warning:', 'warnings.warn(', 'super().__init__(')
    stderr = '\n'.join(line for line in result.stderr.splitlines()
                       if not any(word in line for word in noise))
    return (f'exit code {result.returncode}\n--- stdout (end) ---\n'
            f'{result.stdout[-3000:]}\n--- stderr (end, warnings left out) '
            f'---\n{stderr[-3000:]}')


@pytest.mark.slow
def test_killed_rank_restarts_and_resumes(tmp_path: Path) -> None:
    config = tmp_path / 'toy_restart.py'
    config.write_text(RESTART_CONFIG)
    work_dir = tmp_path / 'work'
    marker = tmp_path / 'killed_once'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(HERE), str(REPO), env.get('PYTHONPATH', '')])
    env.update(CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1',
               RELIABILITY_SELF_KILL_AT_ITER='6', RELIABILITY_KILL_RANK='1',
               RELIABILITY_MARKER=str(marker))

    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node=2', '--max-restarts=1', '--monitor-interval=0.5',
         str(REPO / 'tools' / 'train.py'), str(config), '--work-dir',
         str(work_dir), '--seed', '0'],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, _failure_report(result)

    # Rank 1 died once at iteration 6; torchrun restarted the group, which
    # resumed from iter_4.pth and trained to the end.
    assert marker.read_text() == 'killed at iteration 6'
    assert re.search(r'restart', output, re.IGNORECASE), output[-4000:]
    assert re.search(r'resumed from \S*iter_4\.pth', output), output[-4000:]
    assert (work_dir / 'iter_12.pth').exists()
    assert not list(work_dir.glob('.*.tmp'))

    rank0 = torch.load(work_dir / 'final_rank0.pt', weights_only=True)
    rank1 = torch.load(work_dir / 'final_rank1.pt', weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
