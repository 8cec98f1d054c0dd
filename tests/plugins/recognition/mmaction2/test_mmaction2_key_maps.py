"""Key map from mmaction2 checkpoints, head replacement and the load hook."""
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import vidft_recognition  # noqa: F401  (registers the recognizers)
from vidft.registry import MODELS
from vidft_recognition.mmaction2 import (LoadMMAction2Checkpoint,
                                         convert_mmaction2_key,
                                         convert_mmaction2_state_dict,
                                         load_mmaction2_checkpoint,
                                         mmaction2_key_map)

FIXTURES = Path(__file__).parent / 'fixtures'

KEY_CASES = [
    ('backbone.conv1.conv.weight', 'backbone.model.conv1.weight'),
    ('backbone.conv1.bn.running_var', 'backbone.model.bn1.running_var'),
    ('backbone.layer2.3.conv2.conv.weight',
     'backbone.model.layer2.3.conv2.weight'),
    ('backbone.layer2.3.conv3.bn.bias', 'backbone.model.layer2.3.bn3.bias'),
    ('backbone.layer1.0.conv1.conv.net.weight',
     'backbone.model.layer1.0.conv1.weight'),
    ('backbone.layer3.0.downsample.conv.weight',
     'backbone.model.layer3.0.downsample.0.weight'),
    ('backbone.layer3.0.downsample.bn.num_batches_tracked',
     'backbone.model.layer3.0.downsample.1.num_batches_tracked'),
    ('cls_head.fc_cls.weight', 'cls_head.fc.weight'),
    ('cls_head.fc_cls.bias', 'cls_head.fc.bias'),
    # Keys of parts vidft lacks pass through and end up unexpected.
    ('backbone.layer3.1.non_local_block.g.conv.weight',
     'backbone.model.layer3.1.non_local_block.g.conv.weight'),
    ('data_preprocessor.mean', 'data_preprocessor.mean'),
]


@pytest.mark.parametrize('key,expected', KEY_CASES)
def test_key_rule(key, expected):
    assert convert_mmaction2_key(key, 'backbone.model.') == expected


def test_3d_prefix():
    assert convert_mmaction2_key('backbone.layer4.2.conv1.bn.weight') == \
        'backbone.layer4.2.bn1.weight'


def test_state_dict_keeps_tensor_objects():
    tensor = torch.zeros(2)
    converted = convert_mmaction2_state_dict(
        {'backbone.conv1.bn.weight': tensor})
    assert converted['backbone.bn1.weight'] is tensor


def test_colliding_keys_raise():
    state_dict = {'backbone.layer1.0.conv1.conv.weight': torch.zeros(1),
                  'backbone.layer1.0.conv1.conv.net.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match='backbone.layer1.0.conv1.weight'):
        convert_mmaction2_state_dict(state_dict)


def tsn_model(num_classes):
    return MODELS.build(dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name='resnet50',
                      model_kwargs=dict(channels=(4, 8, 16, 32))),
        cls_head=dict(type='ClsHead', num_classes=num_classes)))


def test_key_map_picks_backbone_prefix():
    state_dict = {'backbone.conv1.conv.weight': torch.zeros(1)}
    converted = mmaction2_key_map(tsn_model(7))(state_dict)
    assert list(converted) == ['backbone.model.conv1.weight']


def test_key_map_rejects_model_without_backbone():
    with pytest.raises(ValueError, match='Recognizer2D'):
        mmaction2_key_map(torch.nn.Linear(2, 2))


def test_other_class_count_replaces_head():
    model = tsn_model(num_classes=3)
    head_before = model.cls_head.fc.weight.detach().clone()
    report = load_mmaction2_checkpoint(model, str(FIXTURES / 'tsn_r50.pth'))

    assert sorted(report.reinitialized) == ['cls_head.fc.bias',
                                            'cls_head.fc.weight']
    assert report.missing == []
    assert report.unexpected == []
    assert torch.equal(model.cls_head.fc.weight, head_before)
    assert report.renamed['cls_head.fc_cls.weight'] == 'cls_head.fc.weight'
    assert 0.9 < report.loaded_fraction < 1.0


def test_wrong_width_names_key_and_shapes():
    model = MODELS.build(dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name='resnet50',
                      model_kwargs=dict(channels=(8, 16, 32, 64))),
        cls_head=dict(type='ClsHead', num_classes=7)))
    with pytest.raises(ValueError, match=r'backbone\.model\.layer1\.0\.'
                       r'conv1\.weight: checkpoint \(4, 64, 1, 1\)'):
        load_mmaction2_checkpoint(model, str(FIXTURES / 'tsn_r50.pth'))


def test_hook_loads_once_before_test():
    model = tsn_model(7)
    runner = SimpleNamespace(model=model, iter=0, logger=None)
    hook = LoadMMAction2Checkpoint(str(FIXTURES / 'tsn_r50.pth'))
    hook.before_test(runner)
    expected = torch.load(FIXTURES / 'tsn_r50.pth', weights_only=True)
    expected = expected['state_dict']['cls_head.fc_cls.weight']
    assert torch.equal(model.cls_head.fc.weight, expected)

    # A second stage must not reload over weights changed in between.
    with torch.no_grad():
        model.cls_head.fc.weight.zero_()
    hook.before_val(runner)
    assert model.cls_head.fc.weight.abs().sum() == 0


def test_hook_skips_resumed_run():
    model = tsn_model(7)
    before = model.cls_head.fc.weight.detach().clone()
    runner = SimpleNamespace(model=model, iter=5, logger=None)
    LoadMMAction2Checkpoint(str(FIXTURES / 'tsn_r50.pth')).before_train(
        runner)
    assert torch.equal(model.cls_head.fc.weight, before)


def test_hook_rejects_empty_path():
    with pytest.raises(ValueError, match='checkpoint'):
        LoadMMAction2Checkpoint('')


def test_hook_registered_for_configs():
    from vidft.registry import HOOKS
    hook = HOOKS.build(dict(type='recognition.LoadMMAction2Checkpoint',
                            checkpoint='model.pth'))
    assert isinstance(hook, LoadMMAction2Checkpoint)
