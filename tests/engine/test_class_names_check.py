"""Runs stop when class index i would mean another class in two datasets,
or in a dataset and the checkpoint it is resumed or tested from."""
from pathlib import Path

import pytest
import torch

import engine_toy
from vidft.engine import build_runner
from vidft.engine.hooks import ClassNamesMismatchError

CLASSES = ('bikes', 'bunny', 'tree')


def _config(work_dir: Path, classes=CLASSES, val_classes=CLASSES, **kwargs):
    cfg = engine_toy.with_validation(engine_toy.make_config(
        str(work_dir), max_iters=2, log_level='WARNING', **kwargs))
    cfg.train_dataloader.dataset.classes = classes
    cfg.val_dataloader.dataset.classes = val_classes
    return cfg


def _test_config(cfg, checkpoint: Path, classes):
    cfg.test_dataloader = dict(cfg.val_dataloader)
    cfg.test_dataloader['dataset'] = dict(cfg.val_dataloader.dataset,
                                          classes=classes)
    cfg.test_cfg = dict(type='TestLoop')
    cfg.test_evaluator = dict(type='EngineToyAccuracy')
    cfg.load_from = str(checkpoint)
    return cfg


def _mismatch_message(runner) -> str:
    with pytest.raises(ClassNamesMismatchError) as info:
        runner.train()
    return str(info.value)


def test_validation_split_missing_class(tmp_path):
    cfg = _config(tmp_path / 'work', val_classes=('bunny', 'tree'))
    runner = build_runner(cfg)

    message = _mismatch_message(runner)

    assert 'validation dataset names 2 classes' in message
    assert "missing ['bikes']" in message
    assert 'label_map=FILE' in message
    assert runner.iter == 0
    assert not list((tmp_path / 'work').glob('*.pth'))


def test_test_of_checkpoint_checks_classes(tmp_path):
    build_runner(_config(tmp_path / 'work')).train()
    checkpoint = tmp_path / 'work' / 'iter_2.pth'

    reordered = ('bunny', 'bikes', 'tree')
    runner = build_runner(_test_config(
        _config(tmp_path / 'test1'), checkpoint, reordered))
    with pytest.raises(ClassNamesMismatchError,
                       match='same names in another order'):
        runner.test()

    runner = build_runner(_test_config(
        _config(tmp_path / 'test2'), checkpoint, CLASSES))
    assert 'toy/accuracy' in runner.test()


def test_resume_with_other_classes(tmp_path):
    build_runner(_config(tmp_path / 'work')).train()
    checkpoint = tmp_path / 'work' / 'iter_2.pth'
    other = ('bikes', 'bunny', 'car')
    cfg = _config(tmp_path / 'work', classes=other, val_classes=other)
    cfg.train_cfg.max_iters = 4

    with pytest.raises(ClassNamesMismatchError,
                       match="extra \\['car'\\]") as info:
        build_runner(cfg, resume=str(checkpoint)).train()
    assert 'the training dataset names 3 classes' in str(info.value)


def test_load_from_other_classes_allowed(tmp_path):
    build_runner(_config(tmp_path / 'work')).train()
    other = ('bikes', 'bunny', 'car')
    cfg = _config(tmp_path / 'finetune', classes=other, val_classes=other,
                  load_from=str(tmp_path / 'work' / 'iter_2.pth'))

    runner = build_runner(cfg)
    runner.train()

    assert runner.iter == 2


def test_head_size_differs_from_classes(tmp_path):
    cfg = _config(tmp_path / 'work', classes=('bikes', 'bunny'),
                  val_classes=('bikes', 'bunny'))
    runner = build_runner(cfg)
    # A recognizer's head: a module called cls_head with num_classes.
    runner.model.cls_head = torch.nn.Identity()
    runner.model.cls_head.num_classes = 3

    message = _mismatch_message(runner)

    assert 'the training dataset names 2 classes' in message
    assert 'but the model has 3 outputs (cls_head.num_classes)' in message
    assert 'set model.cls_head.num_classes=2' in message
