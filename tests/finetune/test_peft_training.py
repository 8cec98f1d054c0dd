"""LoRA models in the engine: light checkpoints, resume and two-process DDP."""
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vidft.engine import build_runner, safe_load
from vidft.finetune import read_peft_reference

REPO = Path(__file__).resolve().parents[2]

# Written to a file, so that torchrun workers can import it too.
TOY_MODULE = textwrap.dedent('''
    """Clips of noise whose brightness encodes the label, and a hook that
    dumps the trainable weights of each rank."""
    import os.path as osp

    import torch
    from mmengine.hooks import Hook
    from torch.utils.data import Dataset

    from vidft.registry import DATASETS, HOOKS
    from vidft.structures import VideoDataSample


    @DATASETS.register_module(force=True)
    class PeftToyClips(Dataset):
        def __init__(self, length=8, num_segments=2, size=32, seed=0):
            generator = torch.Generator().manual_seed(seed)
            self.labels = torch.arange(length) % 3
            noise = torch.randint(0, 120, (length, num_segments, 3, size,
                                           size), generator=generator)
            self.clips = (noise + 60 * self.labels.view(-1, 1, 1, 1, 1)
                          ).to(torch.uint8)

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, index):
            sample = VideoDataSample()
            sample.set_gt_label(int(self.labels[index]))
            return dict(inputs=self.clips[index], data_samples=sample)


    @HOOKS.register_module(force=True)
    class PeftToyDumpHook(Hook):
        priority = 'VERY_LOW'

        def after_run(self, runner):
            model = runner.model.module if hasattr(runner.model, 'module') \\
                else runner.model
            state = {k: v.detach().clone() for k, v in
                     model.named_parameters() if v.requires_grad}
            torch.save(state, osp.join(runner.work_dir,
                                       f'trainable_rank{runner.rank}.pt'))
''')


@pytest.fixture()
def toy_module(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / 'toy_modules'
    folder.mkdir()
    (folder / 'peft_toy_clips.py').write_text(TOY_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    # build_runner gets a Config object, which does not run custom_imports.
    importlib.import_module('peft_toy_clips')
    return folder


def base_weights(tmp_path: Path) -> str:
    import timm
    torch.manual_seed(5)
    path = tmp_path / 'base.pth'
    torch.save(timm.create_model('test_efficientnet', num_classes=0)
               .state_dict(), path)
    return str(path)


def toy_config(weights: str, work_dir: Path, max_iters: int = 4) -> dict:
    return dict(
        custom_imports=dict(imports=['peft_toy_clips'],
                            allow_failed_imports=False),
        default_scope='vidft',
        work_dir=str(work_dir),
        model=dict(
            type='PeftModel',
            model=dict(
                type='recognition.Recognizer2D',
                backbone=dict(type='TimmBackbone',
                              model_name='test_efficientnet',
                              pretrained=weights),
                cls_head=dict(type='ClsHead', num_classes=3,
                              dropout_ratio=0.3),
                data_preprocessor=dict(
                    type='VideoDataPreprocessor', mean=[127.0] * 3,
                    std=[64.0] * 3, format_shape='NCHW')),
            peft=dict(method='lora', target_types=['Conv2d'], r=2)),
        train_dataloader=dict(
            dataset=dict(type='PeftToyClips', length=8),
            sampler=dict(type='DefaultSampler', shuffle=True),
            batch_size=2, num_workers=0),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(
            constructor='VidftOptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=2, max_keep_ckpts=3)),
        custom_hooks=[dict(type='PeftToyDumpHook')],
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0),
        env_cfg=dict(dist_cfg=dict(backend='gloo', timeout=120)))


def trainable_state(runner) -> dict:
    return {k: v.detach().clone() for k, v in
            runner.model.named_parameters() if v.requires_grad}


def test_lora_run_writes_light_checkpoints(tmp_path, toy_module):
    from mmengine.config import Config
    weights = base_weights(tmp_path)
    runner = build_runner(Config(toy_config(weights, tmp_path / 'run')))
    before = trainable_state(runner)
    runner.train()

    checkpoint = safe_load(str(tmp_path / 'run' / 'iter_4.pth'))
    keys = set(checkpoint['state_dict'])
    expected = {'model.' + n for n in runner.model.trained_tensor_names()}
    assert keys == expected
    trainable = {n for n, p in runner.model.named_parameters()
                 if p.requires_grad}
    assert trainable <= keys
    assert not any('base_layer' in k for k in keys)
    reference = read_peft_reference(checkpoint)
    assert reference['base_sources'] == {'backbone': weights}
    # Training changed the LoRA weights and the head.
    after = trainable_state(runner)
    changed = [k for k in after if not torch.equal(before[k], after[k])]
    assert any('lora_B' in k for k in changed)
    assert any('cls_head' in k for k in changed)


def test_lora_resume_matches_uninterrupted(tmp_path, toy_module):
    from mmengine.config import Config
    weights = base_weights(tmp_path)
    straight = build_runner(Config(toy_config(weights, tmp_path / 'a')))
    straight.train()

    resumed = build_runner(Config(toy_config(weights, tmp_path / 'b')),
                           resume=str(tmp_path / 'a' / 'iter_2.pth'))
    resumed.train()
    assert resumed.iter == straight.iter == 4
    first, second = trainable_state(straight), trainable_state(resumed)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.allclose(first[key], second[key], atol=1e-6), key


@pytest.mark.slow
def test_lora_torchrun_two_cpu_ranks(tmp_path, toy_module):
    weights = base_weights(tmp_path)
    work_dir = tmp_path / 'ddp'
    config = tmp_path / 'lora_ddp.py'
    cfg = toy_config(weights, work_dir)
    config.write_text(''.join(f'{k} = {v!r}\n' for k, v in cfg.items()))
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(toy_module), str(REPO), env.get('PYTHONPATH', '')])
    env['CUDA_VISIBLE_DEVICES'] = ''
    env['OMP_NUM_THREADS'] = '1'

    result = subprocess.run(
        [sys.executable, '-m', 'torch.distributed.run', '--standalone',
         '--nproc_per_node=2', str(REPO / 'tools' / 'train.py'), str(config),
         '--work-dir', str(work_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    rank0 = torch.load(work_dir / 'trainable_rank0.pt', weights_only=True)
    rank1 = torch.load(work_dir / 'trainable_rank1.pt', weights_only=True)
    assert rank0.keys() == rank1.keys()
    assert any('lora_A' in k for k in rank0)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    checkpoint = safe_load(str(work_dir / 'iter_4.pth'))
    assert read_peft_reference(checkpoint) is not None
    assert not any('base_layer' in k for k in checkpoint['state_dict'])
