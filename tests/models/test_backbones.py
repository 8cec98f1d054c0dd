"""Tests of the timm and torchvision image backbones."""
import pytest
import timm
import torch
import torchvision
from mmengine.logging import HistoryBuffer
from torch import nn

from vidft.models.backbones import (FeatureCollector, TimmBackbone,
                                    TorchvisionBackbone)
from vidft.registry import BACKBONES

# One model per torchvision model class (the smallest), with an input size
# it accepts. ViT is built for 32x32 inputs, MaxViT accepts only the size it
# was built for (224). GoogLeNet and Inception skip their slow
# truncated-normal initialisation.
TORCHVISION_CASES = [
    ('alexnet', 64, {}),
    ('convnext_tiny', 32, {}),
    ('densenet121', 32, {}),
    ('efficientnet_b0', 32, {}),
    ('googlenet', 32, dict(init_weights=False)),
    ('inception_v3', 75, dict(init_weights=False)),
    ('maxvit_t', 224, {}),
    ('mnasnet0_5', 32, {}),
    ('mobilenet_v2', 32, {}),
    ('mobilenet_v3_small', 32, {}),
    ('regnet_x_400mf', 32, {}),
    ('resnet18', 32, {}),
    ('shufflenet_v2_x0_5', 32, {}),
    ('squeezenet1_1', 32, {}),
    ('swin_t', 32, {}),
    ('vgg11_bn', 32, {}),
    ('vit_b_16', 32, dict(image_size=32)),
]

# RegNet computes its widths with tensor arithmetic, which the meta device
# cannot run.
NOT_ON_META = ('regnet_x_400mf',)

TIMM_CASES = [
    ('resnet18', {}),
    ('efficientnet_lite0', {}),
    ('mobilenetv3_small_100', {}),
    ('convnext_atto', {}),
    ('vit_tiny_patch16_224', dict(img_size=32)),
]


def assert_groups_cover_parameters(backbone):
    groups = backbone.layer_groups()
    names = [name for group in groups for name in group]
    assert all(groups), 'a layer group is empty'
    assert len(names) == len(set(names)), 'a parameter is in two groups'
    assert set(names) == {name for name, _ in backbone.named_parameters()}


@pytest.mark.parametrize('name, size, kwargs', TORCHVISION_CASES,
                         ids=[case[0] for case in TORCHVISION_CASES])
def test_torchvision_backbone_forward(name, size, kwargs):
    # The meta device runs the forward pass for shapes only, which keeps
    # this sweep over large models fast; the numbers are checked against
    # torchvision below.
    device = 'cpu' if name in NOT_ON_META else 'meta'
    with torch.device(device):
        backbone = TorchvisionBackbone(name, model_kwargs=kwargs).eval()
        with torch.no_grad():
            out = backbone(torch.randn(1, 3, size, size))
    assert out.shape[:2] == (1, backbone.out_channels)
    assert out.dim() == (2 if name.startswith('vit') else 4)
    for child in ('fc', 'classifier', 'head', 'heads'):
        if hasattr(backbone.model, child):
            assert isinstance(getattr(backbone.model, child), nn.Identity)
    assert_groups_cover_parameters(backbone)


@pytest.mark.parametrize('name, kwargs', [
    ('resnet18', {}),
    ('densenet121', {}),
    ('googlenet', dict(init_weights=False, transform_input=True)),
    ('mobilenet_v3_small', {}),
    ('swin_t', {}),
], ids=['resnet18', 'densenet121', 'googlenet', 'mobilenet_v3_small',
        'swin_t'])
def test_pooled_features_match_torchvision(name, kwargs):
    # torchvision's own forward with the classifier removed gives the pooled
    # features, which the backbone's map must average to.
    torch.manual_seed(0)
    backbone = TorchvisionBackbone(name, model_kwargs=kwargs).eval()
    if name == 'googlenet':
        kwargs = dict(kwargs, aux_logits=False)
    reference = torchvision.models.get_model(name, **kwargs)
    reference.load_state_dict(backbone.model.state_dict(), strict=False)
    for child in ('fc', 'classifier', 'head'):
        if hasattr(reference, child):
            setattr(reference, child, nn.Identity())
    x = torch.randn(2, 3, 48, 48)
    with torch.no_grad():
        pooled = backbone(x).mean(dim=(2, 3))
        expected = reference.eval()(x)
    assert torch.allclose(pooled, expected, atol=1e-5)


@pytest.mark.parametrize('name, kwargs', TIMM_CASES,
                         ids=[case[0] for case in TIMM_CASES])
def test_timm_backbone_forward(name, kwargs):
    backbone = TimmBackbone(name, model_kwargs=kwargs).eval()
    with torch.no_grad():
        out = backbone(torch.randn(1, 3, 32, 32))
    assert out.shape[:2] == (1, backbone.out_channels)
    assert out.dim() == (2 if name.startswith('vit') else 4)
    assert_groups_cover_parameters(backbone)


def test_timm_map_freezes_head_only_layers():
    # MobileNetV3 applies conv_head after global pooling, so it cannot
    # train when the backbone returns the map.
    backbone = TimmBackbone('mobilenetv3_small_100')
    frozen = [n for n, p in backbone.named_parameters() if not p.requires_grad]
    assert frozen == ['model.conv_head.weight', 'model.conv_head.bias']

    pooled = TimmBackbone('mobilenetv3_small_100', global_pool=True).eval()
    assert all(p.requires_grad for p in pooled.parameters())
    with torch.no_grad():
        out = pooled(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, pooled.out_channels) == (2, 1024)


def test_registered_in_backbones():
    backbone = BACKBONES.build(dict(type='TorchvisionBackbone',
                                    name='resnet18'))
    assert isinstance(backbone, TorchvisionBackbone)
    backbone = BACKBONES.build(dict(type='TimmBackbone',
                                    model_name='resnet18'))
    assert isinstance(backbone, TimmBackbone)


def test_out_indices_follow_feature_info():
    backbone = TorchvisionBackbone('resnet18', out_indices=(0, 2, 4)).eval()
    info = backbone.feature_info
    assert [f['module'] for f in info] == [
        'relu', 'layer1', 'layer2', 'layer3', 'layer4']
    with torch.no_grad():
        outputs = backbone(torch.randn(1, 3, 64, 64))
    assert isinstance(outputs, tuple)
    for out, index in zip(outputs, (0, 2, 4)):
        assert out.shape[1] == info[index]['num_chs']
        assert 64 // out.shape[-1] == info[index]['reduction']

    timm_backbone = TimmBackbone('resnet18', out_indices=(1, 3)).eval()
    with torch.no_grad():
        outputs = timm_backbone(torch.randn(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outputs] == [(1, 64, 16, 16),
                                                 (1, 256, 4, 4)]


def test_feature_names_match_manual_slices():
    torch.manual_seed(0)
    backbone = TorchvisionBackbone(
        'vgg11', feature_names={'features.1': 'relu1_1',
                                'features.4': 'relu2_1'}).eval()
    ran_after = []
    backbone.model.features[8].register_forward_hook(
        lambda *args: ran_after.append(True))
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        features = backbone(x)
        expected1 = backbone.model.features[:2](x)
        expected2 = backbone.model.features[:5](x)
    assert list(features) == ['relu1_1', 'relu2_1']
    assert torch.equal(features['relu1_1'], expected1)
    assert torch.equal(features['relu2_1'], expected2)
    # The forward pass ends after the last named module.
    assert ran_after == []


def test_feature_collector_rejects_module_run_twice():
    model = torchvision.models.resnet18()
    # The block's ReLU runs twice; without the early stop the second run is
    # seen.
    collector = FeatureCollector(model, ['layer1.0.relu'], stop_early=False)
    with pytest.raises(RuntimeError, match='more than once'):
        collector.run(model, torch.randn(1, 3, 32, 32))


def test_feature_collector_follows_replaced_module():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    collector = FeatureCollector(model, ['0'])
    # A wrapper that replaces the named layer after the collector was built,
    # as peft's LoRA layers do.
    model[0] = nn.Sequential(model[0], nn.Tanh())
    x = torch.randn(1, 3, 8, 8)
    feature = collector.run(model, x)['0']
    torch.testing.assert_close(feature, model[0](x))


def test_feature_collector_unknown_name():
    with pytest.raises(ValueError, match='layer9'):
        FeatureCollector(torchvision.models.resnet18(), ['layer9'])


def test_frozen_stages_and_norm_eval():
    backbone = TorchvisionBackbone('resnet18', frozen_stages=1)
    groups = backbone.layer_groups()
    frozen = {n for n, p in backbone.named_parameters() if not p.requires_grad}
    assert frozen == set(groups[0]) | set(groups[1])

    backbone.train()
    assert not backbone.model.bn1.training
    assert not backbone.model.layer1[0].bn1.training
    assert backbone.model.layer2[0].bn1.training
    assert backbone.model.layer2[0].conv1.weight.requires_grad

    all_eval = TimmBackbone('resnet18', norm_eval=True).train()
    norms = [m for m in all_eval.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(m.training for m in norms)


def test_frozen_stages_out_of_range():
    with pytest.raises(ValueError, match='frozen_stages < 5'):
        TorchvisionBackbone('resnet18', frozen_stages=5)


def test_torchvision_weights_from_local_file(tmp_path):
    torch.manual_seed(1)
    source = torchvision.models.resnet18()
    path = tmp_path / 'resnet18.pth'
    torch.save(source.state_dict(), path)

    backbone = TorchvisionBackbone('resnet18', weights=str(path))
    backbone.init_weights()
    for name, tensor in backbone.model.state_dict().items():
        assert torch.equal(tensor, source.state_dict()[name]), name
    assert sorted(backbone.load_report.dropped) == ['fc.bias', 'fc.weight']
    assert backbone.load_report.unexpected == []
    assert backbone.load_report.missing == []


def test_timm_weights_from_local_file(tmp_path):
    torch.manual_seed(2)
    source = timm.create_model('resnet18')
    path = tmp_path / 'resnet18.pth'
    torch.save(source.state_dict(), path)

    backbone = TimmBackbone('resnet18', pretrained=str(path))
    backbone.init_weights()
    assert torch.equal(backbone.model.conv1.weight, source.conv1.weight)
    assert sorted(backbone.load_report.dropped) == ['fc.bias', 'fc.weight']
    assert backbone.load_report.unexpected == []


def reject_keys(state_dict):
    raise ValueError('a converter from another layout rejects these keys')


@pytest.mark.parametrize('key_map', [None, reject_keys])
def test_whole_model_checkpoint_starts_backbone(tmp_path, key_map):
    # A vidft checkpoint of a whole model: the backbone under
    # 'backbone.model.', a head next to it. A converter that the config
    # names for another layout is skipped.
    torch.manual_seed(3)
    source = TimmBackbone('resnet18')
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['cls_head.fc.weight'] = torch.zeros(4, 512)
    path = tmp_path / 'epoch_3.pth'
    # A Runner's checkpoint also pickles the message hub's HistoryBuffer.
    history = HistoryBuffer()
    history.update(0.5)
    torch.save({'meta': {'epoch': 3}, 'state_dict': state,
                'message_hub': {'log_scalars': {'train/loss': history}}},
               path)

    backbone = TimmBackbone('resnet18', pretrained=str(path), key_map=key_map)
    backbone.init_weights()

    assert torch.equal(backbone.model.conv1.weight, source.model.conv1.weight)
    assert backbone.load_report.missing == []
    assert backbone.load_report.unexpected == ['cls_head.fc.weight']


def test_lora_checkpoint_error_names_merge(tmp_path):
    # What a LoRA run keeps: the factors, under the PeftModel's 'model.'.
    state = {'model.backbone.model.conv1.lora_A.default.weight':
             torch.zeros(2, 3, 7, 7)}
    path = tmp_path / 'lora.pth'
    torch.save({'state_dict': state}, path)

    backbone = TimmBackbone('resnet18', pretrained=str(path),
                            key_map=reject_keys)

    with pytest.raises(ValueError, match='vidft export --merge-lora'):
        backbone.init_weights()


def test_missing_torchvision_weights_name_where_to_put_them():
    backbone = TorchvisionBackbone(
        'resnet18', weights='torchvision://ResNet18_Weights.IMAGENET1K_V1')
    with pytest.raises(FileNotFoundError, match='resnet18-f37072fd.pth'):
        backbone.init_weights()


@pytest.mark.parametrize('build, message', [
    (lambda: TorchvisionBackbone('resnet19'), 'resnet18'),
    (lambda: TorchvisionBackbone('r3d_18'), 'recognition'),
    (lambda: TimmBackbone('resnet19'), 'resnet18'),
    (lambda: TimmBackbone('resnet18', out_indices=(0,),
                          feature_names=['layer1']), 'at most one'),
    (lambda: TorchvisionBackbone('vit_b_16', out_indices=(0,)),
     'feature_names'),
])
def test_invalid_configuration(build, message):
    with pytest.raises((ValueError, KeyError), match=message):
        build()


def test_timm_channels_last_model_returns_nchw():
    backbone = TimmBackbone('swin_tiny_patch4_window7_224',
                            model_kwargs=dict(img_size=64, window_size=2))
    with torch.no_grad():
        out = backbone.eval()(torch.randn(1, 3, 64, 64))
    # Patch size 4, then three 2x merges: 64 / 32 = 2.
    assert out.shape == (1, backbone.out_channels, 2, 2)


def test_timm_drop_rate_needs_global_pool():
    with pytest.raises(ValueError, match='global_pool=True'):
        TimmBackbone('resnet18', drop_rate=0.2)
    backbone = TimmBackbone('resnet18', drop_rate=0.5, global_pool=True)
    backbone.train()
    x = torch.randn(2, 3, 32, 32)
    assert not torch.equal(backbone(x), backbone(x))


def test_key_map_without_weights_trains_from_scratch():
    backbone = TimmBackbone('efficientnet_lite0', key_map='efficientnet_lite')
    backbone.init_weights()
    assert backbone.load_report is None
