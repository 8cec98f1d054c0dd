"""A small classifier, synthetic clips and a metric for the engine tests.

Registered in vidft's registries under names that start with ``EngineToy``.
Torchrun workers import this module through ``custom_imports`` with
``tests/engine`` on PYTHONPATH, so keep it importable as ``engine_toy``.
"""
import itertools
import json
import logging
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from vidft.registry import DATASETS, HOOKS, METRICS, MODELS

NUM_CLASSES = 3
_names = itertools.count()


@DATASETS.register_module()
class EngineToyDataset(Dataset):
    """Clips of 3 x 8 x 8 noise whose mean brightness encodes the label.

    ``nan_indices`` lists samples whose pixels are all NaN, which makes the
    loss of the batch holding them NaN. ``classes`` sets
    ``metainfo['classes']``, which checkpoints save.
    """

    def __init__(self, length: int = 16, seed: int = 0,
                 nan_indices: Sequence[int] = (),
                 classes: Optional[Sequence[str]] = None) -> None:
        if classes is not None:
            self.metainfo = dict(classes=tuple(classes))
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(length) % NUM_CLASSES
        noise = torch.randn(length, 3, 8, 8, generator=generator)
        self.clips = noise + self.labels.view(-1, 1, 1, 1).float()
        for index in nan_indices:
            self.clips[index] = float('nan')

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        return dict(inputs=self.clips[index], data_samples=self.labels[index])


@DATASETS.register_module()
class EngineToyBadSampleDataset(EngineToyDataset):
    """Toy clips with the bad-sample reporting methods of
    :class:`vidft.data.datasets.BaseVideoDataset`.

    ``failed_loads`` lists which loads count as a failure, by their position
    in the sequence of ``__getitem__`` calls (0 is the first load), so a
    test can choose how many fail in each epoch. Counts only with
    ``num_workers=0``.
    """

    def __init__(self, failed_loads: Sequence[int] = (), **kwargs: Any
                 ) -> None:
        super().__init__(**kwargs)
        self.failed_loads = set(failed_loads)
        self.loads = 0
        self.failures = 0
        self.reported = 0

    def __getitem__(self, index: int) -> Dict[str, torch.Tensor]:
        if self.loads in self.failed_loads:
            self.failures += 1
        self.loads += 1
        return super().__getitem__(index)

    def count_unreported_bad_samples(self) -> int:
        return self.failures - self.reported

    def report_bad_samples(self) -> int:
        new = self.count_unreported_bad_samples()
        self.reported = self.failures
        return new


@MODELS.register_module()
class EngineToyNet(BaseModel):
    """Conv, dropout and a linear head; dropout makes the random state matter
    for the resume test. ``last_logits_dtype`` shows whether autocast ran."""

    def __init__(self, dropout: float = 0.2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(4, NUM_CLASSES)
        self.last_logits_dtype: Optional[torch.dtype] = None

    def forward(self, inputs: torch.Tensor,
                data_samples: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Any:
        features = F.relu(self.conv(inputs)).mean(dim=(2, 3))
        logits = self.head(self.dropout(features))
        self.last_logits_dtype = logits.dtype
        if mode == 'loss':
            return dict(loss_cls=F.cross_entropy(logits.float(), data_samples))
        if mode == 'predict':
            return [dict(pred=int(p), label=int(t))
                    for p, t in zip(logits.argmax(1), data_samples)]
        return logits


@METRICS.register_module()
class EngineToyAccuracy(BaseMetric):
    """Top-1 accuracy in percent."""

    default_prefix = 'toy'

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        self.results.extend(data_samples)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        correct = sum(r['pred'] == r['label'] for r in results)
        return dict(accuracy=100.0 * correct / max(len(results), 1))


@HOOKS.register_module()
class EngineToyAuditHook(Hook):
    """Record, per rank, which checkpoint files the process created, renamed
    or deleted, and dump the final weights; for the torchrun test."""

    priority = 'VERY_LOW'

    def before_run(self, runner: Any) -> None:
        self.events: List[List[str]] = []
        self._originals = (os.replace, os.remove, os.unlink)
        real_replace, real_remove, real_unlink = self._originals

        def replace(src: str, dst: str, *args: Any, **kwargs: Any) -> None:
            self.events.append(['replace', str(dst)])
            real_replace(src, dst, *args, **kwargs)

        def remove(path: str, *args: Any, **kwargs: Any) -> None:
            self.events.append(['remove', str(path)])
            real_remove(path, *args, **kwargs)

        def unlink(path: str, *args: Any, **kwargs: Any) -> None:
            self.events.append(['remove', str(path)])
            real_unlink(path, *args, **kwargs)

        os.replace, os.remove, os.unlink = replace, remove, unlink

    def after_run(self, runner: Any) -> None:
        os.replace, os.remove, os.unlink = self._originals
        rank = runner.rank
        model = runner.model.module if hasattr(runner.model,
                                               'module') else runner.model
        torch.save(model.state_dict(),
                   osp.join(runner.work_dir, f'final_rank{rank}.pt'))
        with open(osp.join(runner.work_dir, f'audit_rank{rank}.json'),
                  'w') as file:
            json.dump(self.events, file)


def make_config(work_dir: str, max_iters: int = 8, **overrides: Any
                ) -> Config:
    """Return an iteration-based training config for the toy model."""
    cfg = dict(
        default_scope='vidft',
        experiment_name=f'engine_toy_{os.getpid()}_{next(_names)}',
        work_dir=work_dir,
        model=dict(type='EngineToyNet'),
        train_dataloader=dict(
            dataset=dict(type='EngineToyDataset', length=16),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=2, max_keep_ckpts=3)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo')),
    )
    cfg.update(overrides)
    return Config(cfg)


def with_validation(cfg: Config, val_interval: int = 4) -> Config:
    """Add a validation loop over 6 toy clips to ``cfg``."""
    cfg.train_cfg.val_interval = val_interval
    cfg.val_dataloader = dict(
        dataset=dict(type='EngineToyDataset', length=6, seed=1),
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'),
        batch_size=3,
        num_workers=0)
    cfg.val_cfg = dict(type='ValLoop')
    cfg.val_evaluator = dict(type='EngineToyAccuracy')
    return cfg


class LogCapture(logging.Handler):
    """Collect the messages a logger emits."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def text(self) -> str:
        return '\n'.join(self.messages)


def capture_logs(runner: Any) -> LogCapture:
    """Attach a :class:`LogCapture` to the logger of ``runner``."""
    capture = LogCapture()
    runner.logger.addHandler(capture)
    return capture


def find_hook(runner: Any, name: str) -> Any:
    """Return the registered hook whose class is called ``name``."""
    for hook in runner.hooks:
        if type(hook).__name__ == name:
            return hook
    names = [type(hook).__name__ for hook in runner.hooks]
    raise LookupError(f'no {name} among the hooks {names}')
