"""Tests for freeze, stage freezing and the BatchNorm norm_eval policy."""
import pytest
import timm
import torch
import torchvision
from torch import nn

from vidft.finetune import (NormEvalMixin, freeze, set_norm_eval,
                            stage_layer_groups, stage_module_names, unfreeze)


def trainable(model: nn.Module) -> set:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def frozen(model: nn.Module) -> set:
    return {n for n, p in model.named_parameters() if not p.requires_grad}


def test_freeze_by_module_pattern():
    model = torchvision.models.resnet18(num_classes=4)

    names = freeze(model, ['layer1', 'layer2.0'])

    assert set(names) == frozen(model)
    assert all(n.startswith(('layer1.', 'layer2.0.')) for n in names)
    assert 'layer1.0.conv1.weight' in names
    assert 'layer2.1.conv1.weight' in trainable(model)
    assert 'fc.weight' in trainable(model)


def test_freeze_fnmatch_wildcards():
    model = torchvision.models.resnet18(num_classes=4)

    names = freeze(model, ['layer*.*.bn*'])

    assert names
    assert all('.bn' in n for n in names)
    assert 'bn1.weight' not in names  # the stem's bn1 has no 'layer' prefix
    assert 'layer3.1.bn2.bias' in names


def test_freeze_single_parameter():
    model = torchvision.models.resnet18(num_classes=4)
    assert freeze(model, ['fc.bias']) == ['fc.bias']


def test_freeze_unknown_pattern_raises():
    model = torchvision.models.resnet18(num_classes=4)
    with pytest.raises(ValueError, match="'layer9'.*conv1"):
        freeze(model, ['layer9'])
    assert not frozen(model)


def test_stages_torchvision_resnet():
    model = torchvision.models.resnet18(num_classes=4)

    names = freeze(model, stages=('layer', 2))

    prefixes = {n.split('.')[0] for n in names}
    assert prefixes == {'conv1', 'bn1', 'layer1', 'layer2'}
    assert {n.split('.')[0] for n in trainable(model)} == {'layer3', 'layer4',
                                                          'fc'}


def test_stages_zero_is_stem_only():
    model = torchvision.models.resnet18(num_classes=4)
    names = freeze(model, stages=('layer', 0))
    assert sorted(names) == ['bn1.bias', 'bn1.weight', 'conv1.weight']


def test_stages_timm_efficientnet_blocks():
    model = timm.create_model('efficientnet_b0', pretrained=False,
                              num_classes=4)

    names = freeze(model, stages=('blocks', 2))

    prefixes = {'.'.join(n.split('.')[:2]) if n.startswith('blocks') else
                n.split('.')[0] for n in names}
    assert prefixes == {'conv_stem', 'bn1', 'blocks.0', 'blocks.1'}
    assert 'blocks.2.0.conv_pw.weight' in trainable(model)
    assert 'conv_head.weight' in trainable(model)


class TwoBackbones(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rgb = torchvision.models.resnet18(num_classes=2)
        self.flow = torchvision.models.resnet18(num_classes=2)


def test_stages_ambiguous_then_dotted_prefix():
    model = TwoBackbones()
    with pytest.raises(ValueError, match='ambiguous'):
        stage_module_names(model, ('layer', 1))

    names = stage_module_names(model, ('flow.layer', 1))

    assert names == ['flow.conv1', 'flow.bn1', 'flow.relu', 'flow.maxpool',
                     'flow.layer1']


def test_stages_errors():
    model = torchvision.models.resnet18(num_classes=4)
    with pytest.raises(ValueError, match='at most 4'):
        freeze(model, stages=('layer', 5))
    with pytest.raises(ValueError, match='no module has stages'):
        freeze(model, stages=('blocks', 1))
    with pytest.raises(ValueError, match='prefix, N'):
        freeze(model, stages=('layer', -1))


def test_unfreeze_reverses_freeze():
    model = torchvision.models.resnet18(num_classes=4)
    freeze(model, stages=('layer', 1))
    unfreeze(model, ['layer1'])
    assert {n.split('.')[0] for n in frozen(model)} == {'conv1', 'bn1'}


class SmallNet(NormEvalMixin, nn.Module):
    def __init__(self, norm_eval) -> None:
        super().__init__()
        self.norm_eval = norm_eval
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.conv(x)).mean((2, 3)))


def train_step(model: nn.Module) -> None:
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=0.1)
    model.train()
    loss = model(torch.randn(4, 3, 8, 8) * 3 + 1).square().mean()
    loss.backward()
    optimizer.step()


def bn_buffers(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()
            if 'running' in k or 'num_batches' in k}


@pytest.mark.parametrize('norm_eval', [True, 'all'])
def test_norm_eval_keeps_running_stats(norm_eval):
    torch.manual_seed(0)
    model = SmallNet(norm_eval)
    buffers = bn_buffers(model)
    conv_before = model.conv.weight.detach().clone()
    bn_weight_before = model.bn.weight.detach().clone()

    train_step(model)

    assert model.training
    assert not model.bn.training
    assert not model.head[1].training
    for key, value in bn_buffers(model).items():
        assert torch.equal(value, buffers[key]), key
    assert not torch.equal(model.conv.weight, conv_before)
    assert not torch.equal(model.bn.weight, bn_weight_before)


def test_without_norm_eval_stats_change():
    torch.manual_seed(0)
    model = SmallNet(False)
    before = bn_buffers(model)

    train_step(model)

    assert model.bn.training
    assert not torch.equal(model.bn.running_mean, before['bn.running_mean'])


def test_norm_eval_frozen_only():
    torch.manual_seed(0)
    model = SmallNet('frozen')
    freeze(model, ['conv', 'bn'])
    before = bn_buffers(model)

    train_step(model)

    assert not model.bn.training
    assert model.head[1].training
    assert torch.equal(model.bn.running_mean, before['bn.running_mean'])
    assert not torch.equal(model.head[1].running_mean,
                           before['head.1.running_mean'])


def test_norm_eval_invalid_value():
    with pytest.raises(ValueError, match='norm_eval'):
        SmallNet('sometimes').train()


def test_set_norm_eval_returns_names():
    model = torchvision.models.resnet18(num_classes=4)
    model.train()
    names = set_norm_eval(model)
    assert 'bn1' in names
    assert 'layer4.1.bn2' in names
    assert not any(m.training for m in model.modules()
                   if isinstance(m, nn.BatchNorm2d))


def test_stage_layer_groups_resnet():
    model = torchvision.models.resnet18(num_classes=4)
    groups = stage_layer_groups(model, 'layer')
    assert groups == [['conv1', 'bn1'], ['layer1'], ['layer2'], ['layer3'],
                      ['layer4']]


def test_stage_layer_groups_efficientnet():
    model = timm.create_model('efficientnet_b0', pretrained=False,
                              num_classes=4)
    groups = stage_layer_groups(model, 'blocks')
    assert groups[0] == ['conv_stem', 'bn1']
    assert groups[1:] == [[f'blocks.{i}'] for i in range(7)]
