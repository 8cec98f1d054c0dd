import numpy as np
import pytest
import torch
from torch import nn

import vidft_stylization  # noqa: F401
from vidft.registry import LOSSES
from vidft_stylization.losses import (content_loss, gram_matrix, style_loss,
                                      temporal_loss, total_variation)
from vidft_stylization.style_image import (DEFAULT_STYLE_IMAGE,
                                           load_style_image)

from stylization_helpers import CONTENT_LAYER, STYLE_LAYERS, lite0_loss_config


def test_gram_matrix_hand_computed():
    # Two channels on a 1x2 map: F = [[1, 2], [3, 4]].
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    # F F^T = [[5, 11], [11, 25]], divided by C*H*W = 4.
    expected = torch.tensor([[[1.25, 2.75], [2.75, 6.25]]])
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_matrix_rejects_3d_input():
    with pytest.raises(ValueError, match='expected features'):
        gram_matrix(torch.zeros(2, 3, 4))


def test_style_loss_hand_computed():
    gram = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    target = torch.tensor([[0.0, 0.0], [0.0, 3.0]])
    # Squared Frobenius distance: 1 + 4 = 5, layer weight 2, then 0.5 * 1.
    loss = style_loss([gram, gram], [target, gram[0]], [2.0, 0.5])
    assert loss.item() == pytest.approx(10.0)


def test_content_loss_hand_computed():
    a = torch.zeros(1, 1, 2, 2)
    b = torch.tensor([[[[1.0, 2.0], [0.0, 1.0]]]])
    assert content_loss(a, b).item() == pytest.approx((1 + 4 + 0 + 1) / 4)


def test_total_variation_hand_computed():
    image = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # Vertical differences 2 and 3, horizontal 1 and 2: (4+9)/2 + (1+4)/2.
    assert total_variation(image).item() == pytest.approx(6.5 + 2.5)


def test_temporal_loss_zero_for_matching_shift():
    previous = torch.rand(1, 3, 8, 10)
    current = torch.zeros_like(previous)
    current[..., 2:] = previous[..., :-2]  # content moved 2 px right
    flow = torch.zeros(1, 2, 8, 10)
    flow[:, 0] = -2.0  # pixel x of frame t comes from x - 2 of frame t - 1
    mask = torch.zeros(1, 1, 8, 10)
    mask[..., 2:] = 1.0  # the first two columns are disoccluded
    assert temporal_loss(current, previous, flow, mask).item() == \
        pytest.approx(0.0, abs=1e-10)
    # Without the flow the loss detects the motion.
    assert temporal_loss(current, previous, torch.zeros_like(flow),
                         mask).item() > 1e-3


def test_temporal_loss_hand_computed_mean():
    previous = torch.zeros(1, 3, 2, 2)
    current = torch.full((1, 3, 2, 2), 0.5)
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    # 6 of 12 values differ by 0.5: mean = 6 * 0.25 / 12.
    loss = temporal_loss(current, previous, torch.zeros(1, 2, 2, 2), mask)
    assert loss.item() == pytest.approx(0.125)


def test_default_style_image_is_installed_rgb():
    image = load_style_image(DEFAULT_STYLE_IMAGE, max_size=100)
    assert image.dtype == np.uint8
    assert image.shape == (100, 100, 3)


def test_missing_style_image_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='style_image'):
        load_style_image(str(tmp_path / 'nope.png'))


def test_loss_network_frozen_eval_outside_state(lite0_loss):
    network = lite0_loss.network
    lite0_loss.train()
    assert not network.training
    assert not any(p.requires_grad for p in network.parameters())
    assert list(lite0_loss.parameters()) == []
    assert lite0_loss.state_dict() == {}
    assert network.load_report.loaded_fraction == pytest.approx(1.0)


def test_style_targets_are_grams_of_style_image(lite0_loss):
    image = load_style_image(DEFAULT_STYLE_IMAGE, max_size=64)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        features = lite0_loss.network((tensor * 255 - 127) / 128)
    for name, target in zip(STYLE_LAYERS, lite0_loss.style_targets()):
        assert torch.allclose(target, gram_matrix(features[name])[0],
                              rtol=1e-4, atol=1e-6)
    # The style image itself has (near) zero style loss.
    with torch.no_grad():
        losses = lite0_loss.compute(tensor, torch.rand_like(tensor))
    assert losses['style'].item() < 1e-6
    assert losses['content'].item() > 0


def test_set_style_changes_targets(lite0_loss):
    before = [t.clone() for t in lite0_loss.style_targets()]
    flat = np.full((40, 40, 3), 128, np.uint8)
    try:
        lite0_loss.set_style(flat)
        after = lite0_loss.style_targets()
        assert not torch.allclose(before[0], after[0])
    finally:
        lite0_loss.set_style(DEFAULT_STYLE_IMAGE)


def test_weighted_losses_and_gradient(lite0_loss):
    output = torch.rand(2, 3, 32, 32, requires_grad=True)
    content = torch.rand(2, 3, 32, 32)
    raw = lite0_loss.compute(output, content)
    weighted = lite0_loss(output, content)
    assert set(weighted) == {'loss_content', 'loss_style'}
    assert weighted['loss_style'].item() == pytest.approx(
        lite0_loss.style_weight * raw['style'].item(), rel=1e-5)
    sum(weighted.values()).backward()
    assert output.grad is not None and output.grad.abs().sum() > 0


def test_loss_rejects_feature_names_in_network():
    cfg = lite0_loss_config()
    cfg['loss_network'] = dict(cfg['loss_network'], feature_names=['blocks.0'])
    with pytest.raises(ValueError, match='remove them from loss_network'):
        LOSSES.build(cfg)


def test_vgg16_missing_weights_error_names_file(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    cfg = dict(
        type='stylization.PerceptualLoss',
        loss_network=dict(
            type='TorchvisionBackbone', name='vgg16',
            weights='torchvision://VGG16_Weights.IMAGENET1K_V1'),
        content_layer='features.8', style_layers=['features.3'])
    with pytest.raises(FileNotFoundError) as error:
        LOSSES.build(cfg)
    assert 'vgg16-397923af.pth' in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_loss_moves_with_to():
    # A stand-in check of _apply: buffers and the network follow .double().
    loss = LOSSES.build(lite0_loss_config())
    loss.double()
    assert loss.mean.dtype == torch.float64
    assert next(loss.network.parameters()).dtype == torch.float64
    assert isinstance(loss, nn.Module)


def test_vgg16_relu_layers_as_loss_network(caplog):
    # Random weights: only the layer wiring is checked here.
    cfg = dict(
        type='stylization.PerceptualLoss',
        loss_network=dict(type='TorchvisionBackbone', name='vgg16'),
        content_layer='features.8',
        style_layers=['features.3', 'features.8', 'features.15'],
        style_size=32)
    loss = LOSSES.build(cfg)
    channels = [target.shape[0] for target in loss.style_targets()]
    assert channels == [64, 128, 256]
    output = torch.rand(1, 3, 32, 32, requires_grad=True)
    losses = loss.compute(output, torch.rand(1, 3, 32, 32))
    assert all(torch.isfinite(value) for value in losses.values())
    losses['style'].backward()
    assert output.grad.abs().sum() > 0
    assert 'no pretrained weights' in caplog.text
