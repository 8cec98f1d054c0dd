"""Tests for UnfreezeHook with a real mmengine Runner and a stand-in runner."""
import logging
import math
from types import SimpleNamespace
from typing import Dict, List

import pytest
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook
from mmengine.model import BaseDataPreprocessor, BaseModel
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import LinearParamScheduler
from mmengine.runner import Runner
from torch import nn

from vidft.finetune.hooks import GROUP_MARKER, UnfreezeHook
from vidft.registry import HOOKS

BASE_LR = 0.1
LR_MULT = 0.1
T_MAX = 4


class ToyClassifier(BaseModel):
    def __init__(self) -> None:
        # An instance, so that no registry look-up builds the preprocessor.
        super().__init__(data_preprocessor=BaseDataPreprocessor())
        self.backbone = nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                                      nn.Linear(8, 8))
        self.head = nn.Linear(8, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        logits = self.head(self.backbone(inputs))
        if mode == 'loss':
            return {'loss': F.cross_entropy(logits, data_samples)}
        return logits


def make_dataset(size: int = 8) -> List[dict]:
    generator = torch.Generator().manual_seed(0)
    return [dict(inputs=torch.randn(4, generator=generator),
                 data_samples=torch.tensor(i % 2)) for i in range(size)]


class Recorder(Hook):
    """Stores backbone weights and param groups after every epoch."""

    priority = 'LOWEST'  # after ParamSchedulerHook has stepped

    def __init__(self) -> None:
        self.backbone: List[torch.Tensor] = []
        self.groups: List[List[dict]] = []
        self.start_lr: Dict[int, float] = {}

    def before_train(self, runner) -> None:
        self.backbone.append(self._weight(runner))

    def before_train_epoch(self, runner) -> None:
        self.start_lr[runner.epoch] = \
            runner.optim_wrapper.optimizer.param_groups[-1]['lr']

    def after_train_epoch(self, runner) -> None:
        self.backbone.append(self._weight(runner))
        self.groups.append([
            {k: v for k, v in g.items() if k != 'params'} | {
                'count': len(g['params'])}
            for g in runner.optim_wrapper.optimizer.param_groups])

    @staticmethod
    def _weight(runner) -> torch.Tensor:
        return runner.model.backbone[0].weight.detach().clone()


def make_runner(work_dir, max_epochs: int, recorder: Recorder,
                resume: bool = False) -> Runner:
    return Runner(
        model=ToyClassifier(),
        work_dir=str(work_dir),
        experiment_name=f'unfreeze_{max_epochs}_{resume}',
        train_dataloader=dict(
            dataset=make_dataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=4, num_workers=0),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        optim_wrapper=dict(
            constructor='VidftOptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=BASE_LR, momentum=0.9,
                           weight_decay=1e-4)),
        # Runner would end the schedule at max_epochs without an explicit end.
        param_scheduler=dict(type='CosineAnnealingLR', T_max=T_MAX,
                             end=T_MAX, by_epoch=True),
        custom_hooks=[dict(type='UnfreezeHook', patterns=['backbone'],
                           unfreeze_at=1, lr_mult=LR_MULT), recorder],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           interval=1)),
        default_scope='vidft',
        resume=resume,
        randomness=dict(seed=0),
    )


def cosine(step: int) -> float:
    return (1 + math.cos(math.pi * step / T_MAX)) / 2


def test_registered_with_priority():
    assert HOOKS.get('UnfreezeHook') is UnfreezeHook
    assert UnfreezeHook.priority == 'NORMAL'


def test_unfreeze_in_runner(tmp_path):
    recorder = Recorder()
    runner = make_runner(tmp_path, max_epochs=3, recorder=recorder)
    runner.train()

    initial, after0, after1, after2 = recorder.backbone
    assert torch.equal(after0, initial)
    assert not torch.equal(after1, after0)
    assert not torch.equal(after2, after1)

    groups0, groups1, groups2 = recorder.groups
    assert len(groups1) == len(groups0) + 1
    new_group = groups1[-1]
    assert new_group[GROUP_MARKER] is True
    assert new_group['count'] == 4
    assert new_group['initial_lr'] == pytest.approx(BASE_LR * LR_MULT)
    # Unfrozen before epoch 1: the first cosine step has already run.
    assert recorder.start_lr[1] == pytest.approx(BASE_LR * LR_MULT * cosine(1))
    assert new_group['lr'] == pytest.approx(BASE_LR * LR_MULT * cosine(2))
    assert groups2[-1]['lr'] == pytest.approx(BASE_LR * LR_MULT * cosine(3))
    assert groups2[0]['lr'] == pytest.approx(BASE_LR * cosine(3))


@pytest.mark.filterwarnings('ignore:Environment variable '
                            'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
def test_resume_after_unfreeze(tmp_path, monkeypatch):
    # mmengine 0.10.7 resumes with torch.load() and no weights_only argument,
    # which torch >= 2.6 reads as True; its checkpoints hold HistoryBuffer
    # and numpy objects. The test trusts the files it wrote itself.
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    first = Recorder()
    make_runner(tmp_path, max_epochs=2, recorder=first).train()

    second = Recorder()
    runner = make_runner(tmp_path, max_epochs=3, recorder=second,
                         resume=True)
    runner.train()

    assert len(second.groups) == 1  # only epoch 2 ran
    assert torch.equal(second.backbone[0], first.backbone[-1])
    assert not torch.equal(second.backbone[1], second.backbone[0])
    groups = second.groups[0]
    assert groups[-1][GROUP_MARKER] is True
    assert groups[-1]['lr'] == pytest.approx(BASE_LR * LR_MULT * cosine(3))
    assert len(groups) == len(first.groups[-1])


def fake_runner(model: nn.Module) -> SimpleNamespace:
    optimizer = torch.optim.SGD(model.parameters(), lr=BASE_LR,
                                weight_decay=0.01)
    optim_wrapper = OptimWrapper(optimizer)
    warmup = LinearParamScheduler(optim_wrapper, param_name='lr',
                                  start_factor=0.5, end=4, by_epoch=False)
    return SimpleNamespace(model=model, optim_wrapper=optim_wrapper,
                           param_schedulers=[warmup], epoch=0, iter=0,
                           logger=logging.getLogger('tests.unfreeze_hook'))


def step(runner: SimpleNamespace) -> None:
    model = runner.model
    loss = model(torch.randn(3, 4), torch.tensor([0, 1, 0]), mode='loss')
    runner.optim_wrapper.update_params(loss['loss'])
    for scheduler in runner.param_schedulers:
        scheduler.step()


def test_by_iteration_with_stand_in_runner(caplog):
    torch.manual_seed(0)
    runner = fake_runner(ToyClassifier())
    hook = UnfreezeHook(['backbone.0'], unfreeze_at=2, by_epoch=False,
                        lr_mult=2.0, decay_mult=0.0)
    weight = runner.model.backbone[0].weight

    hook.before_run(runner)
    in_optimizer = {id(p) for g in runner.optim_wrapper.param_groups
                    for p in g['params']}
    assert id(weight) not in in_optimizer
    assert not weight.requires_grad

    before = weight.detach().clone()
    for iteration in range(2):
        runner.iter = iteration
        hook.before_train_iter(runner, iteration)
        step(runner)
    assert torch.equal(weight, before)
    assert not hook.unfrozen

    runner.iter = 2
    with caplog.at_level(logging.INFO, logger='tests.unfreeze_hook'):
        hook.before_train_iter(runner, 2)
    assert hook.unfrozen
    assert weight.requires_grad
    group = runner.optim_wrapper.param_groups[-1]
    assert group['initial_lr'] == pytest.approx(0.2)
    # mmengine's linear warmup with end=4 reaches factor 1 after 3 steps, so
    # after 2 steps the factor is 0.5 + 0.5 * 2 / 3.
    assert group['lr'] == pytest.approx(0.2 * (0.5 + 0.5 * 2 / 3))
    assert group['weight_decay'] == 0.0
    lines = [r.getMessage() for r in caplog.records
             if 'unfroze' in r.getMessage()]
    assert len(lines) == 1
    assert 'iteration 2' in lines[0]

    step(runner)
    assert not torch.equal(weight, before)
    assert group['lr'] == pytest.approx(0.2)

    hook.before_train_iter(runner, 3)
    assert len(runner.optim_wrapper.param_groups) == 2


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match='unfreeze_at'):
        UnfreezeHook(['backbone'], unfreeze_at=0)
    with pytest.raises(ValueError, match='patterns'):
        UnfreezeHook([], unfreeze_at=1)
    with pytest.raises(ValueError, match='lr_mult'):
        UnfreezeHook(['backbone'], unfreeze_at=1, lr_mult=0)


def test_unknown_pattern_raises():
    runner = fake_runner(ToyClassifier())
    with pytest.raises(ValueError, match='neck'):
        UnfreezeHook(['neck'], unfreeze_at=1).before_run(runner)


def test_warns_when_training_too_short(caplog):
    runner = fake_runner(ToyClassifier())
    runner.max_epochs = 2
    with caplog.at_level(logging.WARNING, logger='tests.unfreeze_hook'):
        UnfreezeHook(['backbone'], unfreeze_at=2).before_run(runner)
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'never unfreeze' in warnings[0]
