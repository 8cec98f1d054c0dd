import pytest
import torch

import vidft_stylization  # noqa: F401
from vidft.registry import MODELS
from vidft_stylization.models import TransformerNet
from vidft_stylization.structures import StylizationDataSample


def _stylizer(temporal_weight=0.0, loss=None):
    return MODELS.build(dict(
        type='stylization.VideoStylizer',
        transformer=dict(type='stylization.TransformerNet', base_channels=4,
                         num_res_blocks=1),
        perceptual_loss=loss, temporal_weight=temporal_weight))


@pytest.mark.parametrize('size', [(16, 16), (17, 23), (3, 5)])
def test_transformer_keeps_any_size(size):
    net = TransformerNet(base_channels=4, num_res_blocks=2)
    output = net(torch.rand(2, 3, *size))
    assert output.shape == (2, 3, *size)
    assert output.min() >= 0
    assert output.max() <= 1


def test_transformer_layout():
    net = TransformerNet(base_channels=8, num_res_blocks=3)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.InstanceNorm2d)]
    # 3 encoder + 2 per residual block + 2 decoder convolutions are normed.
    assert len(norms) == 3 + 2 * 3 + 2
    assert len(net.res_blocks) == 3
    strides = [m.stride for m in net.encoder.modules()
               if isinstance(m, torch.nn.Conv2d)]
    assert strides == [(1, 1), (2, 2), (2, 2)]


def test_transformer_rejects_bad_sizes():
    with pytest.raises(ValueError, match='base_channels'):
        TransformerNet(base_channels=0)
    with pytest.raises(ValueError, match='RGB images'):
        TransformerNet(base_channels=4)(torch.rand(1, 1, 8, 8))


def test_data_preprocessor_scales_and_stacks():
    model = _stylizer()
    pair = torch.full((2, 3, 8, 8), 255, dtype=torch.uint8)
    data = model.data_preprocessor(dict(inputs=[pair, pair // 3],
                                        data_samples=None))
    assert data['inputs'].shape == (2, 2, 3, 8, 8)
    assert data['inputs'].dtype == torch.float32
    assert data['inputs'].max() == 1.0
    with pytest.raises(ValueError, match='one shape'):
        model.data_preprocessor(dict(inputs=[pair, pair[..., :4]]))


def test_tensor_and_predict_modes():
    model = _stylizer()
    inputs = torch.rand(2, 2, 3, 12, 16)
    assert model(inputs, mode='tensor').shape == inputs.shape
    samples = model(inputs, [StylizationDataSample() for _ in range(2)],
                    mode='predict')
    assert samples[0].pred_frames.shape == (2, 3, 12, 16)
    with pytest.raises(ValueError, match='mode'):
        model(inputs, mode='train')


def test_loss_keys_with_temporal(lite0_loss):
    model = _stylizer(temporal_weight=2.0)
    model.perceptual_loss = lite0_loss
    inputs = torch.rand(1, 2, 3, 16, 16)
    sample = StylizationDataSample(flow=torch.zeros(2, 16, 16),
                                   valid_mask=torch.ones(1, 16, 16))
    losses = model(inputs, [sample], mode='loss')
    assert set(losses) == {'loss_content', 'loss_style', 'loss_temporal'}
    with pytest.raises(ValueError, match='with_flow=True'):
        model(inputs, [StylizationDataSample()], mode='loss')


def test_loss_without_perceptual_loss_raises():
    with pytest.raises(RuntimeError, match='perceptual_loss'):
        _stylizer()(torch.rand(1, 2, 3, 8, 8), mode='loss')


def test_state_dict_has_no_loss_network(lite0_loss):
    model = _stylizer()
    model.perceptual_loss = lite0_loss
    assert all(key.startswith('transformer.')
               for key in model.state_dict())
    assert all(name.startswith('transformer.')
               for name, _ in model.named_parameters())
