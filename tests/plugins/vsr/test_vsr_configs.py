import os.path as osp

import pytest
from mmengine.config import Config

from vidft.registry import DATASETS, MODELS

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'vsr')


@pytest.mark.parametrize('name', [
    'basicvsr_small_scratch_demo.py', 'bicubic_x4_skvideo_demo.py',
    'basicvsr_reds4_x4.py'
])
def test_config_builds_model(name):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name))
    model = MODELS.build(cfg.model)
    assert model.scale == 4
    assert cfg.inferencer['type'] == 'vsr.VSRInferencer'
    for metric in cfg.val_evaluator:
        assert {'channel', 'crop_border', 'data_range'} <= set(metric)


def test_demo_splits_by_video():
    cfg = Config.fromfile(osp.join(CONFIG_DIR,
                                   'basicvsr_small_scratch_demo.py'))
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    train_videos = {
        train.get_data_info(i)['sequence'] for i in range(len(train))
    }
    val_videos = {val.get_data_info(i)['sequence'] for i in range(len(val))}
    assert train_videos == {'bigbuckbunny', 'carphone_pristine'}
    assert val_videos == {'bikes'}
    # Every validation frame is evaluated once: one whole sequence.
    assert len(val) == 1
    assert val.get_data_info(0)['frame_inds'] == list(range(10))
