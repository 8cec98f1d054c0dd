"""Freezing and UnfreezeHook under DDP with 2 gloo processes on CPU.

Each rank trains on different random data, so parameters stay identical
across ranks only if DDP averages their gradients.
"""
import logging
import os
import socket
from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

# Spawning and importing torch in 2 processes takes 20 to 40 s on 2 cores.
pytestmark = pytest.mark.slow

WORLD_SIZE = 2
STEPS = 3


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1),
                                    nn.BatchNorm2d(4), nn.ReLU())
        self.layer2 = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1),
                                    nn.BatchNorm2d(8), nn.ReLU())
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.bn1(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def train_step(model: nn.Module, optim_wrapper, rank: int, step: int) -> None:
    generator = torch.Generator().manual_seed(1000 * rank + step)
    inputs = torch.randn(4, 3, 8, 8, generator=generator)
    labels = torch.randint(0, 3, (4,), generator=generator)
    optim_wrapper.update_params(F.cross_entropy(model(inputs), labels))


def snapshot(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def build_optim_wrapper(model: nn.Module):
    from vidft.finetune.param_groups import VidftOptimWrapperConstructor
    constructor = VidftOptimWrapperConstructor(
        dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)))
    return constructor(model)


def worker(rank: int, port: int, out_dir: str) -> None:
    from vidft.finetune import freeze
    from vidft.finetune.hooks import UnfreezeHook

    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=WORLD_SIZE)
    result = {}

    # Freezing set before DDP wrapping.
    torch.manual_seed(0)
    model = TinyResNet()
    result['frozen_names'] = freeze(model, stages=('layer', 1))
    result['initial'] = snapshot(model)
    ddp = DistributedDataParallel(model)
    optim_wrapper = build_optim_wrapper(ddp)
    result['optimizer_ids'] = {id(p) for g in optim_wrapper.param_groups
                               for p in g['params']}
    result['frozen_ids'] = {id(p) for p in model.parameters()
                            if not p.requires_grad}
    for step in range(STEPS):
        train_step(ddp, optim_wrapper, rank, step)
    result['final'] = snapshot(model)

    # UnfreezeHook freezing after wrapping, then unfreezing, under DDP.
    torch.manual_seed(1)
    model = TinyResNet()
    result['hook_initial'] = snapshot(model)
    ddp = DistributedDataParallel(model, find_unused_parameters=True)
    runner = SimpleNamespace(model=ddp, optim_wrapper=build_optim_wrapper(ddp),
                             param_schedulers=None, epoch=0, iter=0,
                             logger=logging.getLogger('tests.ddp'))
    hook = UnfreezeHook(['layer1'], unfreeze_at=STEPS, by_epoch=False)
    hook.before_run(runner)
    for iteration in range(2 * STEPS):
        runner.iter = iteration
        hook.before_train_iter(runner, iteration)
        train_step(ddp, runner.optim_wrapper, rank, iteration)
        if iteration == STEPS - 1:
            result['hook_frozen'] = snapshot(model)
    result['hook_final'] = snapshot(model)

    # Without find_unused_parameters the hook must refuse to start.
    strict_ddp = DistributedDataParallel(TinyResNet())
    strict_runner = SimpleNamespace(
        model=strict_ddp, optim_wrapper=build_optim_wrapper(strict_ddp),
        param_schedulers=None, logger=logging.getLogger('tests.ddp'))
    try:
        UnfreezeHook(['layer1'], unfreeze_at=1).before_run(strict_runner)
        result['strict_error'] = ''
    except ValueError as error:
        result['strict_error'] = str(error)

    torch.save(result, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def changed(before: dict, after: dict, prefix: str) -> list:
    return [k for k in before if k.startswith(prefix)
            and not torch.equal(before[k], after[k])]


@pytest.fixture(scope='module')
def results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('ddp')
    mp.spawn(worker, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE,
             join=True)
    return [torch.load(out_dir / f'rank{r}.pt', weights_only=False)
            for r in range(WORLD_SIZE)]


def test_frozen_unchanged_trainable_synced(results):
    rank0, rank1 = results
    initial, final = rank0['initial'], rank0['final']
    frozen = set(rank0['frozen_names'])

    assert {k.split('.')[0] for k in frozen} == {'conv1', 'bn1', 'layer1'}
    assert rank0['optimizer_ids'].isdisjoint(rank0['frozen_ids'])
    for key in frozen:
        assert torch.equal(final[key], initial[key]), key
    for key in set(initial) - frozen:
        assert not torch.equal(final[key], initial[key]), key
    for key in final:
        assert torch.equal(final[key], rank1['final'][key]), key


def test_unfreeze_hook_under_ddp(results):
    rank0, rank1 = results
    initial, frozen, final = (rank0['hook_initial'], rank0['hook_frozen'],
                              rank0['hook_final'])

    for key in initial:
        if key.startswith('layer1.'):
            assert torch.equal(frozen[key], initial[key]), key
            assert not torch.equal(final[key], frozen[key]), key
    assert changed(initial, frozen, 'fc.')
    for key in final:
        assert torch.equal(final[key], rank1['hook_final'][key]), key


def test_unfreeze_hook_needs_find_unused(results):
    assert 'find_unused_parameters=True' in results[0]['strict_error']
