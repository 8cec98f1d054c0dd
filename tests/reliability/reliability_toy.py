"""A toy classifier, synthetic clips and crash points for the kill-and-resume
tests.

Training subprocesses import this module through ``custom_imports`` with
``tests/reliability`` on PYTHONPATH. Environment variables set crash points:

* ``RELIABILITY_PAUSE_AT_ITER=N``: before iteration N (0-based), create
  ``RELIABILITY_MARKER`` and sleep, so the test can SIGKILL the process
  mid-epoch.
* ``RELIABILITY_PAUSE_IN_WRITE=NAME``: while writing the checkpoint file
  ``NAME``, after its bytes are in the temporary file and before the rename,
  create ``RELIABILITY_MARKER`` and sleep.
* ``RELIABILITY_SELF_KILL_AT_ITER=N``: before iteration N, SIGKILL the own
  process unless ``RELIABILITY_MARKER`` exists (create it first, so the
  crash happens once across torchrun restarts). Rank 1 only under torchrun.

Every rank saves its final weights to ``final_rank<rank>.pt`` in the work
dir.
"""
import os
import os.path as osp
import signal
import time
from typing import Any, Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from vidft.engine import checkpoint as engine_checkpoint
from vidft.registry import DATASETS, HOOKS, MODELS

NUM_CLASSES = 3

# Seconds a paused process sleeps before it gives up waiting to be killed.
PAUSE_SECONDS = 120


def _pause(reason: str) -> None:
    marker = os.environ['RELIABILITY_MARKER']
    with open(marker, 'w') as file:
        file.write(reason)
    time.sleep(PAUSE_SECONDS)
    raise RuntimeError(f'paused at {reason} and was not killed within '
                       f'{PAUSE_SECONDS} s')


@DATASETS.register_module()
class ReliabilityToyClips(Dataset):
    """``length`` clips of 3 x 4 x 8 x 8 noise whose mean encodes the
    label; fixed by ``seed``."""

    def __init__(self, length: int = 16, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(length) % NUM_CLASSES
        noise = torch.randn(length, 3, 4, 8, 8, generator=generator)
        self.clips = noise + self.labels.view(-1, 1, 1, 1, 1).float()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=self.clips[index], data_samples=self.labels[index])


@MODELS.register_module()
class ReliabilityToyNet(BaseModel):
    """A 3D conv, dropout (so the random state matters) and a linear
    head."""

    def __init__(self, dropout: float = 0.3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4, NUM_CLASSES)

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Any:
        features = F.relu(self.conv(inputs)).mean(dim=(2, 3, 4))
        logits = self.head(self.dropout(features))
        if mode == 'loss':
            return dict(loss_cls=F.cross_entropy(logits, data_samples))
        if mode == 'predict':
            return list(logits.argmax(1))
        return logits


@HOOKS.register_module()
class ReliabilityCrashHook(Hook):
    """Apply the crash points of the environment (see the module notes)
    and save each rank's final weights."""

    priority = 'VERY_LOW'

    def before_train_iter(self, runner: Any, batch_idx: int,
                          data_batch: Any = None) -> None:
        pause_at = os.environ.get('RELIABILITY_PAUSE_AT_ITER')
        if pause_at is not None and runner.iter == int(pause_at):
            _pause(f'iteration {runner.iter}')
        kill_at = os.environ.get('RELIABILITY_SELF_KILL_AT_ITER')
        marker = os.environ.get('RELIABILITY_MARKER', '')
        if kill_at is not None and runner.iter == int(kill_at) and \
                runner.rank == int(os.environ.get('RELIABILITY_KILL_RANK',
                                                  '0')) and \
                not osp.exists(marker):
            with open(marker, 'w') as file:
                file.write(f'killed at iteration {runner.iter}')
            os.kill(os.getpid(), signal.SIGKILL)

    def after_run(self, runner: Any) -> None:
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        torch.save(model.state_dict(),
                   osp.join(runner.work_dir, f'final_rank{runner.rank}.pt'))


def _install_write_pause() -> None:
    target = os.environ.get('RELIABILITY_PAUSE_IN_WRITE')
    if not target:
        return
    original = engine_checkpoint.atomic_write

    def pausing_atomic_write(path: str, write: Any) -> None:
        if osp.basename(path) != target:
            return original(path, write)

        def write_then_pause(file: Any) -> None:
            write(file)
            file.flush()
            _pause(f'writing {path}')
        return original(path, write_then_pause)

    engine_checkpoint.atomic_write = pausing_atomic_write


_install_write_pause()
