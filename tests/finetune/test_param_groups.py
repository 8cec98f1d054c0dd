"""Tests for VidftOptimWrapperConstructor: frozen params, lr and decay."""
import logging
from typing import Dict, List, Tuple

import pytest
import torch
import torchvision
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from torch import nn

from vidft.finetune import freeze, stage_layer_groups

BASE_LR = 0.1
BASE_WD = 0.01


class Backbone(nn.Module):
    def __init__(self, with_groups: bool = True) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.blocks = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3))
        if with_groups:
            self.layer_groups = lambda: [['stem', 'bn'], 'blocks.0',
                                         ['blocks.1']]


class Classifier(nn.Module):
    def __init__(self, backbone_groups: bool = False) -> None:
        super().__init__()
        self.backbone = Backbone(with_groups=backbone_groups)
        self.head = nn.Linear(4, 3)


class ClassifierWithGroups(Classifier):
    def layer_groups(self) -> List[List[str]]:
        return [['backbone.stem', 'backbone.bn'], ['backbone.blocks.0'],
                ['backbone.blocks.1']]


@pytest.fixture(autouse=True)
def vidft_scope():
    with DefaultScope.overwrite_default_scope('vidft'):
        yield


@pytest.fixture
def log_lines(request):
    """Messages that reach mmengine's current logger during the test."""
    # A new instance becomes mmengine's current logger.
    logger = MMLogger.get_instance(f'tests.param_groups.{request.node.name}',
                                   log_level='DEBUG')
    lines: List[str] = []
    handler = logging.Handler(level=logging.INFO)
    handler.emit = lambda record: lines.append(record.getMessage())
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def build(model: nn.Module, paramwise_cfg=None, optimizer=None):
    cfg = dict(constructor='VidftOptimWrapperConstructor',
               optimizer=optimizer or dict(type='SGD', lr=BASE_LR,
                                           momentum=0.9,
                                           weight_decay=BASE_WD))
    if paramwise_cfg is not None:
        cfg['paramwise_cfg'] = paramwise_cfg
    return build_optim_wrapper(model, cfg)


def settings_by_name(model: nn.Module, optim_wrapper
                     ) -> Dict[str, Tuple[float, float]]:
    """Map each parameter name in the optimizer to its (lr, weight decay)."""
    name_of = {id(p): n for n, p in model.named_parameters()}
    found = {}
    for group in optim_wrapper.optimizer.param_groups:
        for param in group['params']:
            name = name_of[id(param)]
            assert name not in found, f'{name} is in two param groups'
            found[name] = (group['lr'], group['weight_decay'])
    return found


def test_frozen_params_left_out(log_lines):
    model = Classifier()
    freeze(model, ['backbone.stem', 'backbone.bn'])

    settings = settings_by_name(model, build(model))

    assert set(settings) == {'backbone.blocks.0.weight',
                             'backbone.blocks.0.bias',
                             'backbone.blocks.1.weight',
                             'backbone.blocks.1.bias', 'head.weight',
                             'head.bias'}
    assert all(v == (BASE_LR, BASE_WD) for v in settings.values())
    table = [line for line in log_lines if line.startswith('Param groups')]
    assert len(table) == 1
    assert 'frozen, left out of the optimizer: 3 tensors, 116 elements' \
        in table[0]


def test_optimizer_step_leaves_frozen_unchanged():
    torch.manual_seed(0)
    model = Classifier()
    freeze(model, ['backbone.stem'])
    stem_before = model.backbone.stem.weight.detach().clone()
    head_before = model.head.weight.detach().clone()
    optim_wrapper = build(model)

    features = model.backbone.blocks(model.backbone.bn(
        model.backbone.stem(torch.randn(2, 3, 9, 9))))
    loss = model.head(features.mean((2, 3))).square().sum()
    optim_wrapper.update_params(loss)

    assert model.backbone.stem.weight.grad is None
    assert torch.equal(model.backbone.stem.weight, stem_before)
    assert not torch.equal(model.head.weight, head_before)


def test_paramwise_multipliers():
    model = Classifier()
    cfg = dict(custom_keys={'head': dict(lr_mult=10.0, decay_mult=0.0)},
               norm_decay_mult=0.0, bias_lr_mult=2.0, bias_decay_mult=0.5)

    settings = settings_by_name(model, build(model, cfg))

    # custom_keys wins over the bias rules for head.bias.
    assert settings['head.weight'] == pytest.approx((1.0, 0.0))
    assert settings['head.bias'] == pytest.approx((1.0, 0.0))
    assert settings['backbone.stem.weight'] == pytest.approx((0.1, 0.01))
    # Norm layers keep the base lr: bias_lr_mult skips them.
    assert settings['backbone.bn.weight'] == pytest.approx((0.1, 0.0))
    assert settings['backbone.bn.bias'] == pytest.approx((0.1, 0.0))
    assert settings['backbone.blocks.0.weight'] == pytest.approx((0.1, 0.01))
    assert settings['backbone.blocks.0.bias'] == pytest.approx((0.2, 0.005))


def test_custom_keys_longest_match():
    model = Classifier()
    cfg = dict(custom_keys={'backbone': dict(lr_mult=0.5),
                            'backbone.blocks': dict(lr_mult=0.25,
                                                    momentum=0.5)})

    optim_wrapper = build(model, cfg)
    settings = settings_by_name(model, optim_wrapper)

    assert settings['backbone.stem.weight'][0] == pytest.approx(0.05)
    assert settings['backbone.blocks.1.bias'][0] == pytest.approx(0.025)
    assert settings['head.bias'][0] == pytest.approx(0.1)
    momentum = {g['momentum'] for g in optim_wrapper.optimizer.param_groups
                if g['lr'] == pytest.approx(0.025)}
    assert momentum == {0.5}


def test_groups_merge_equal_settings():
    model = Classifier()
    optim_wrapper = build(model, dict(norm_decay_mult=0.0))
    groups = optim_wrapper.optimizer.param_groups
    assert len(groups) == 2
    assert sorted(len(g['params']) for g in groups) == [2, 7]


@pytest.mark.parametrize('model_cls, cfg_names', [
    (ClassifierWithGroups, None),
    (lambda: Classifier(backbone_groups=True), None),
    (Classifier, [['backbone.stem', 'backbone.bn'], 'backbone.blocks.0',
                  ['backbone.blocks.1']]),
])
def test_layer_decay(model_cls, cfg_names, log_lines):
    model = model_cls()
    cfg = dict(layer_decay_rate=0.5)
    if cfg_names is not None:
        cfg['layer_names'] = cfg_names

    settings = settings_by_name(model, build(model, cfg))

    # 3 layers: layer i gets 0.5 ** (3 - i); the head keeps the base lr.
    assert settings['backbone.stem.weight'][0] == pytest.approx(0.0125)
    assert settings['backbone.bn.bias'][0] == pytest.approx(0.0125)
    assert settings['backbone.blocks.0.weight'][0] == pytest.approx(0.025)
    assert settings['backbone.blocks.1.bias'][0] == pytest.approx(0.05)
    assert settings['head.weight'][0] == pytest.approx(0.1)
    table = next(line for line in log_lines
                 if line.startswith('Param groups'))
    assert 'layer 0/3 (backbone.stem.*, backbone.bn.*)' in table


def test_layer_decay_with_multipliers():
    model = ClassifierWithGroups()
    cfg = dict(layer_decay_rate=0.5, bias_lr_mult=2.0,
               custom_keys={'head': dict(lr_mult=10.0)})

    settings = settings_by_name(model, build(model, cfg))

    assert settings['backbone.blocks.1.bias'][0] == pytest.approx(0.1)
    assert settings['backbone.blocks.1.weight'][0] == pytest.approx(0.05)
    assert settings['head.bias'][0] == pytest.approx(1.0)


def test_layer_decay_errors():
    with pytest.raises(ValueError, match='layer_names'):
        build(Classifier(), dict(layer_decay_rate=0.5))
    with pytest.raises(ValueError, match="'backbone.stme'"):
        build(Classifier(), dict(layer_decay_rate=0.5,
                                 layer_names=['backbone.stme']))
    with pytest.raises(ValueError, match=r'\(0, 1\]'):
        build(Classifier(), dict(layer_decay_rate=1.5, layer_names=['head']))


def test_unknown_paramwise_key():
    with pytest.raises(ValueError, match="Did you mean 'norm_decay_mult'"):
        build(Classifier(), dict(norm_decay=0.0))


class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 3, bias=False)
        self.decoder = nn.Linear(3, 3, bias=False)
        self.decoder.weight = self.encoder.weight


def test_shared_parameter_needs_bypass():
    with pytest.raises(ValueError, match='bypass_duplicate'):
        build(Tied(), dict(norm_decay_mult=0.0))

    optim_wrapper = build(Tied(), dict(bypass_duplicate=True))
    params = [p for g in optim_wrapper.optimizer.param_groups
              for p in g['params']]
    assert len(params) == 1


def test_all_frozen_raises():
    model = Classifier()
    freeze(model, ['*'])
    with pytest.raises(ValueError, match='no trainable parameters'):
        build(model)


def test_adamw_without_paramwise_cfg():
    model = Classifier()
    freeze(model, ['head'])
    optim_wrapper = build(model, optimizer=dict(type='AdamW', lr=1e-3,
                                                weight_decay=0.05))
    settings = settings_by_name(model, optim_wrapper)
    assert 'head.weight' not in settings
    assert settings['backbone.stem.weight'] == pytest.approx((1e-3, 0.05))


def test_layer_decay_torchvision_stages():
    model = torchvision.models.resnet18(num_classes=3)
    freeze(model, ['bn1'])
    cfg = dict(layer_decay_rate=0.5,
               layer_names=stage_layer_groups(model, 'layer'))

    settings = settings_by_name(model, build(model, cfg))

    # Stem and 4 stages: 5 layers, so the stem gets 0.5 ** 5.
    assert settings['conv1.weight'][0] == pytest.approx(BASE_LR / 32)
    assert 'bn1.weight' not in settings
    assert settings['layer1.0.conv1.weight'][0] == pytest.approx(BASE_LR / 16)
    assert settings['layer4.1.bn2.bias'][0] == pytest.approx(BASE_LR / 2)
    assert settings['fc.weight'][0] == pytest.approx(BASE_LR)


def test_lora_strategy_lr_mult_reaches_lora_weights_only():
    from mmengine.config import Config

    from vidft.finetune import apply_peft, apply_strategy

    cfg = apply_strategy(
        Config(dict(model=dict(type='Toy'),
                    optim_wrapper=dict(paramwise_cfg=dict(
                        custom_keys={'head': dict(lr_mult=10.0)})))),
        'lora', lr_mult=4.0, peft=dict(target_types=['Conv2d'], r=2))
    custom_keys = cfg.optim_wrapper.paramwise_cfg.custom_keys
    assert custom_keys == {'head': dict(lr_mult=10.0),
                           'lora_': dict(lr_mult=4.0)}

    model = Classifier()
    peft = dict(cfg.model.peft)
    peft.pop('method')
    apply_peft(model, dict(method='lora', **peft))
    settings = settings_by_name(
        model, build(model, paramwise_cfg=cfg.optim_wrapper.paramwise_cfg))
    lora = {n: lr for n, (lr, _) in settings.items() if 'lora_' in n}
    assert lora and set(lora.values()) == {BASE_LR * 4.0}
    assert settings['head.weight'][0] == pytest.approx(BASE_LR * 10.0)
    for bad in (0.0, float('nan'), float('inf'), '2', None):
        with pytest.raises(ValueError, match='finite number > 0'):
            apply_strategy(cfg, 'lora', lr_mult=bad)
    # Another strategy, or lora without lr_mult, drops the entry again.
    for name, options in (('full', {}), ('lora', {})):
        rewritten = apply_strategy(cfg, name, **options)
        assert 'lora_' not in rewritten.optim_wrapper.paramwise_cfg.custom_keys
