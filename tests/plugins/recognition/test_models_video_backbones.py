"""Tests of torchvision's video models as backbones."""
import pytest
import torch
import torchvision

from vidft.registry import BACKBONES
from vidft_recognition.models import TorchvisionVideoBackbone

# Clip sizes the models accept, and the number of output dimensions after
# the batch: feature maps (C, T, H, W), or MViT's class token (C,). MViT only
# runs at the 16x224x224 it is built for.
CASES = [
    ('r3d_18', (1, 3, 4, 32, 32), 4),
    ('mc3_18', (1, 3, 4, 32, 32), 4),
    ('r2plus1d_18', (1, 3, 4, 32, 32), 4),
    ('s3d', (1, 3, 8, 32, 32), 4),
    ('swin3d_t', (1, 3, 4, 64, 64), 4),
    ('mvit_v2_s', (1, 3, 16, 224, 224), 1),
]


@pytest.mark.parametrize('name, shape, dims', CASES,
                         ids=[case[0] for case in CASES])
def test_video_backbone_forward(name, shape, dims):
    backbone = TorchvisionVideoBackbone(name).eval()
    with torch.no_grad():
        out = backbone(torch.randn(shape))
    assert out.shape[:2] == (1, backbone.out_channels)
    assert out.dim() == dims + 1
    if name == 'swin3d_t':
        # Channels first: patch size (2, 4, 4), then three 2x merges.
        assert out.shape == (1, 768, 2, 2, 2)

    groups = backbone.layer_groups()
    names = [n for group in groups for n in group]
    assert len(names) == len(set(names))
    assert set(names) == {n for n, _ in backbone.named_parameters()}


def test_r3d_matches_torchvision_features():
    torch.manual_seed(0)
    backbone = TorchvisionVideoBackbone('r3d_18').eval()
    reference = torchvision.models.video.r3d_18().eval()
    reference.load_state_dict(backbone.model.state_dict(), strict=False)
    clip = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        pooled = backbone(clip).flatten(2).mean(2)
        reference.fc = torch.nn.Identity()
        expected = reference(clip)
    assert torch.allclose(pooled, expected, atol=1e-5)


def test_weights_from_local_file(tmp_path):
    torch.manual_seed(3)
    source = torchvision.models.video.r2plus1d_18()
    path = tmp_path / 'r2plus1d_18.pth'
    torch.save(source.state_dict(), path)

    backbone = BACKBONES.build(dict(
        type='recognition.TorchvisionVideoBackbone', name='r2plus1d_18',
        weights=str(path)))
    backbone.init_weights()
    assert torch.equal(backbone.model.stem[0].weight, source.stem[0].weight)
    assert sorted(backbone.load_report.dropped) == ['fc.bias', 'fc.weight']
    assert backbone.load_report.unexpected == []
    assert backbone.load_report.missing == []


def test_frozen_stem():
    backbone = TorchvisionVideoBackbone('r3d_18', frozen_stages=0)
    assert not backbone.model.stem[0].weight.requires_grad
    assert backbone.model.layer1[0].conv1[0].weight.requires_grad
    backbone.train()
    assert not backbone.model.stem[1].training
    assert backbone.model.layer1[0].conv1[1].training


def test_unknown_model():
    with pytest.raises(ValueError, match='r3d_18'):
        TorchvisionVideoBackbone('resnet18')
