"""Tests of ResNet3d: torchvision key names and 2D-to-3D inflation.

Inflation repeats a 2D kernel over time and divides it by the kernel length,
so a clip of identical frames gives the 2D response. The equality is exact
only where no temporal kernel reaches past the clip: zero padding at the
borders drops part of the kernel. The tests therefore compare either the
central time steps of a long clip (temporal kernels 3 and 5) or every time
step when all temporal kernels have size 1.
"""
import pytest
import torch
import torchvision

from vidft.models.backbones import TorchvisionBackbone
from vidft.registry import BACKBONES
from vidft_recognition.models import ResNet3d


def save_random_resnet(depth, path):
    """Save a torchvision ResNet with random weights and BN statistics."""
    torch.manual_seed(depth)
    model = torchvision.models.get_model(f'resnet{depth}')
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    torch.save(model.state_dict(), path)
    return str(path)


def frame_features(depth, weights, frames):
    backbone = TorchvisionBackbone(f'resnet{depth}', weights=weights).eval()
    backbone.init_weights()
    with torch.no_grad():
        return backbone(frames)


@pytest.mark.parametrize('depth', [18, 34, 50, 101])
def test_keys_and_shapes_match_torchvision(depth):
    with torch.device('meta'):
        model3d = ResNet3d(depth=depth)
        model2d = torchvision.models.get_model(f'resnet{depth}')
    state3d = model3d.state_dict()
    state2d = {k: v for k, v in model2d.state_dict().items()
               if not k.startswith('fc.')}
    assert list(state3d) == list(state2d)
    for key, tensor in state3d.items():
        assert tensor.shape[-2:] == state2d[key].shape[-2:], key
        assert tensor.shape[:2] == state2d[key].shape[:2], key


def test_inflated_r18_matches_2d_away_from_borders(tmp_path):
    weights = save_random_resnet(18, tmp_path / 'r18.pth')
    # Temporal radius: 2 (stem kernel 5) + 1 per inflated block (8 blocks).
    radius = 10
    model = ResNet3d(depth=18, pretrained=weights, conv1_kernel=(5, 7, 7),
                     with_pool2=False, inflate=(1, 1, 1, 1),
                     temporal_kernels=3).eval()
    model.init_weights()
    report = model.load_report
    assert 'conv1.weight' in report.inflated
    assert 'layer4.1.conv1.weight' in report.inflated
    assert sorted(report.dropped) == ['fc.bias', 'fc.weight']
    assert report.unexpected == []
    assert report.missing == []

    torch.manual_seed(0)
    frames = torch.randn(2, 3, 64, 64)
    num_frames = 2 * radius + 4
    clip = frames[:, :, None].expand(2, 3, num_frames, 64, 64).contiguous()
    expected = frame_features(18, weights, frames)
    with torch.no_grad():
        out = model(clip)
    assert out.shape[2] == num_frames

    scale = expected.abs().max().item()
    for t in range(radius, num_frames - radius):
        assert torch.allclose(out[:, :, t], expected, atol=1e-5 * scale), t
    # At the borders zero padding changes the result.
    assert not torch.allclose(out[:, :, 0], expected, atol=1e-2 * scale)


def test_inflated_r50_with_unit_kernels_matches_every_step(tmp_path):
    weights = save_random_resnet(50, tmp_path / 'r50.pth')
    # Kernel length 1 everywhere: no padding in time, so every step is
    # exact, with temporal strides and pool2 as well.
    model = ResNet3d(depth=50, pretrained=weights, conv1_kernel=(1, 7, 7),
                     conv1_stride_t=2, with_pool2=True,
                     temporal_kernels=1,
                     temporal_strides=(1, 2, 1, 1)).eval()
    model.init_weights()

    torch.manual_seed(1)
    frames = torch.randn(1, 3, 32, 32)
    clip = frames[:, :, None].expand(1, 3, 16, 32, 32).contiguous()
    expected = frame_features(50, weights, frames)
    with torch.no_grad():
        out = model(clip)
    # 16 frames / 2 (stem) / 2 (pool2) / 2 (layer2) = 2 steps.
    assert out.shape == (1, 2048, 2, 1, 1)
    scale = expected.abs().max().item()
    for t in range(out.shape[2]):
        assert torch.allclose(out[:, :, t], expected, atol=1e-5 * scale)


def test_inflate_pattern_per_block():
    model = ResNet3d(depth=50, inflate=((1, 1, 1), (1, 0, 1, 0),
                                        (1, 0, 1, 0, 1, 0), (0, 1, 0)),
                     temporal_kernels=(3, 3, 5, 5))
    assert model.layer1[0].conv1.kernel_size == (3, 1, 1)
    assert model.layer2[1].conv1.kernel_size == (1, 1, 1)
    assert model.layer3[2].conv1.kernel_size == (5, 1, 1)
    assert model.layer4[0].conv1.kernel_size == (1, 1, 1)
    assert model.layer4[1].conv1.kernel_size == (5, 1, 1)
    assert model.layer4[1].conv2.kernel_size == (1, 3, 3)

    style = ResNet3d(depth=50, inflate_style='3x3x3')
    assert style.layer1[0].conv1.kernel_size == (1, 1, 1)
    assert style.layer1[0].conv2.kernel_size == (3, 3, 3)


def test_forward_shapes_and_registry():
    model = BACKBONES.build(dict(type='recognition.ResNet3d', depth=18,
                                 conv1_stride_t=2, pool1_stride_t=2))
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 8, 32, 32))
    # 8 frames / 2 (stem) / 2 (pool1) / 2 (pool2) = 1 step.
    assert out.shape == (1, model.out_channels, 1, 1, 1)
    assert model.out_channels == 512


def test_recognizer_checkpoint_starts_resnet3d(tmp_path):
    torch.manual_seed(4)
    source = ResNet3d(depth=18)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    path = tmp_path / 'recognizer.pth'
    torch.save({'state_dict': state}, path)

    model = ResNet3d(depth=18, pretrained=str(path))
    model.init_weights()

    for name, tensor in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert model.load_report.missing == []
    assert model.load_report.inflated == []


def test_frozen_stages_and_layer_groups():
    model = ResNet3d(depth=18, frozen_stages=1)
    groups = model.layer_groups()
    assert len(groups) == 5
    assert groups[0] == ['conv1.weight', 'bn1.weight', 'bn1.bias']
    names = [name for group in groups for name in group]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == set(groups[0]) | set(groups[1])
    model.train()
    assert not model.bn1.training
    assert not model.layer1[1].bn2.training
    assert model.layer2[0].bn1.training


@pytest.mark.parametrize('kwargs, message', [
    (dict(depth=26), 'depth'),
    (dict(inflate=(1, 1, 1)), 'inflate'),
    (dict(inflate=((1, 0, 1), 1, 1, 1)), 'stage 1'),
    (dict(inflate_style='2x1x1'), 'inflate_style'),
    (dict(temporal_kernels=(3, 3)), 'temporal_kernels'),
    (dict(frozen_stages=5), 'frozen_stages'),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet3d(**{'depth': 18, **kwargs})
