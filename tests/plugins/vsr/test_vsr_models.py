import numpy as np
import pytest
import torch

from vidft.registry import MODELS
from vidft_vsr.degradations import imresize
from vidft_vsr.models import BasicVSR, SPyNet
from vidft_vsr.structures import VSRDataSample


def _small(scale: int = 4) -> BasicVSR:
    torch.manual_seed(0)
    return MODELS.build(
        dict(type='vsr.BasicVSR', scale=scale, mid_channels=8, num_blocks=1))


@pytest.mark.parametrize('scale', [2, 4])
def test_basicvsr_output_shape_odd_size(scale):
    model = _small(scale)
    lrs = torch.rand(2, 3, 3, 13, 19)
    out = model(lrs, mode='tensor')
    assert out.shape == (2, 3, 3, 13 * scale, 19 * scale)
    assert len(model.upsample) == int(np.log2(scale))


def test_basicvsr_single_frame_clip():
    out = _small()(torch.rand(1, 1, 3, 8, 8))
    assert out.shape == (1, 1, 3, 32, 32)


def test_published_size_parameter_count():
    # BasicVSR with 64 channels and 30 blocks per branch has about 6.3 M
    # parameters (Chan et al., CVPR 2021, Table 1).
    model = BasicVSR(scale=4, mid_channels=64, num_blocks=30)
    count = sum(p.numel() for p in model.parameters())
    assert 6.2e6 < count < 6.4e6


def test_bicubic_base_when_residual_is_zero():
    torch.manual_seed(0)
    model = BasicVSR(scale=4, mid_channels=8, num_blocks=1,
                     base_upsampling='bicubic')
    torch.nn.init.zeros_(model.conv_last.weight)
    torch.nn.init.zeros_(model.conv_last.bias)
    frames = np.random.default_rng(1).random((2, 6, 7, 3))
    lrs = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float()
    with torch.no_grad():
        out = model(lrs)[0].permute(0, 2, 3, 1).double().numpy()
    expected = np.stack([imresize(f, (24, 28)) for f in frames])
    assert np.allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match='base_upsampling'):
        BasicVSR(scale=4, mid_channels=8, num_blocks=1,
                 base_upsampling='nearest')


def test_rejects_unsupported_scale():
    with pytest.raises(ValueError, match='scale'):
        BasicVSR(scale=3, mid_channels=8, num_blocks=1)


def test_spynet_zero_residuals_give_zero_flow():
    spynet = SPyNet()
    for level in spynet.levels:
        torch.nn.init.zeros_(level.convs[-1].weight)
        torch.nn.init.zeros_(level.convs[-1].bias)
    frames = torch.rand(2, 3, 20, 36)
    assert torch.count_nonzero(spynet(frames, frames)) == 0


def test_spynet_flow_size_and_scaling():
    spynet = SPyNet()
    for level in spynet.levels:
        torch.nn.init.zeros_(level.convs[-1].weight)
        level.convs[-1].bias.data = torch.tensor([1.0, 2.0])
    # Each of the six levels adds (1, 2) and doubles the flow before the
    # next, so at the padded resolution 64x64 the flow is 63 * (1, 2). The
    # frame is 40x50, so the components are rescaled by 50/64 and 40/64.
    flow = spynet(torch.rand(1, 3, 40, 50), torch.rand(1, 3, 40, 50))
    assert flow.shape == (1, 2, 40, 50)
    assert torch.allclose(flow[0, 0], torch.tensor(63 * 50 / 64))
    assert torch.allclose(flow[0, 1], torch.tensor(2 * 63 * 40 / 64))


def _batch(scale=4, t=3, h=8, w=10):
    lr = torch.randint(0, 256, (t, 3, h, w), dtype=torch.uint8)
    gt = torch.randint(0, 256, (t, 3, h * scale, w * scale),
                       dtype=torch.uint8)
    sample = VSRDataSample(gt_frames=gt, metainfo=dict(sequence='s'))
    return dict(inputs=[lr, lr.clone()], data_samples=[sample, sample])


def test_loss_and_predict_modes():
    model = _small()
    data = model.data_preprocessor(_batch(), training=True)
    assert data['inputs'].shape == (2, 3, 3, 8, 10)
    assert data['inputs'].max() <= 1.0
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss'}
    assert losses['loss'].requires_grad

    predictions = model(**data, mode='predict')
    assert predictions[0].pred_frames.shape == (3, 3, 32, 40)
    assert 0 <= predictions[0].pred_frames.min()
    assert predictions[0].pred_frames.max() <= 1
    assert predictions[0].scale == 4


def test_loss_rejects_wrong_gt_size():
    model = _small(scale=2)
    data = model.data_preprocessor(_batch(scale=4))
    with pytest.raises(ValueError, match='scale'):
        model(**data, mode='loss')


def test_bicubic_baseline_matches_numpy_imresize():
    model = MODELS.build(dict(type='vsr.BicubicVSR', scale=4))
    frames = np.random.default_rng(0).integers(0, 256, (2, 6, 7, 3),
                                               dtype=np.uint8)
    lrs = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].double() / 255
    out = model(lrs, mode='tensor')[0].permute(0, 2, 3, 1).numpy() * 255
    expected = np.stack([imresize(f.astype(np.float64), (24, 28))
                         for f in frames])
    assert np.allclose(out, expected)
    assert sum(p.numel() for p in model.parameters()) == 0
    with pytest.raises(RuntimeError, match='loss'):
        model(**model.data_preprocessor(_batch()), mode='loss')
