"""Loading RIFE v4.6 flownet.pkl files through the key map and the load report."""
import pytest
import torch

from vidft_interpolation.converters import convert_rife_v4_keys, load_interpolation_weights
from vidft_interpolation.models import RIFE

# Input channels and widths of the blocks of the public RIFE v4.6 IFNet. The
# first block reads two frames and the timestep (7 channels); later blocks
# also read the mask logit and the four flow channels (12).
RIFE_V46_BLOCKS = [(7, 192), (12, 128), (12, 96), (12, 64)]


def rife_v46_state_dict(with_teacher: bool = True) -> dict:
    """Random tensors under the names and shapes of a RIFE v4.6 flownet.pkl."""
    generator = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=generator)

    state = {}
    blocks = list(enumerate(RIFE_V46_BLOCKS))
    if with_teacher:
        blocks.append(('_tea', (15, 64)))
    for index, (in_channels, c) in blocks:
        prefix = f'module.block{index}.'
        state[prefix + 'conv0.0.0.weight'] = rand(c // 2, in_channels, 3, 3)
        state[prefix + 'conv0.0.0.bias'] = rand(c // 2)
        state[prefix + 'conv0.1.0.weight'] = rand(c, c // 2, 3, 3)
        state[prefix + 'conv0.1.0.bias'] = rand(c)
        for k in range(8):
            state[prefix + f'convblock.{k}.conv.weight'] = rand(c, c, 3, 3)
            state[prefix + f'convblock.{k}.conv.bias'] = rand(c)
            state[prefix + f'convblock.{k}.beta'] = rand(1, c, 1, 1)
        state[prefix + 'lastconv.0.weight'] = rand(c, 24, 4, 4)
        state[prefix + 'lastconv.0.bias'] = rand(24)
    return state


def test_key_map_renames_every_block_tensor():
    converted = convert_rife_v4_keys(rife_v46_state_dict(with_teacher=False))
    model = RIFE(refine_channels=None, timestep_prior=False)
    assert set(converted) == set(model.state_dict())
    assert 'flow_net.blocks.2.body.5.scale' in converted
    assert 'flow_net.blocks.0.head.weight' in converted


def test_load_flownet_pkl(tmp_path):
    source = rife_v46_state_dict()
    path = tmp_path / 'flownet.pkl'
    torch.save(source, path)
    model = RIFE(refine_channels=None, timestep_prior=False)

    report = load_interpolation_weights(model, str(path))

    state = model.state_dict()
    torch.testing.assert_close(state['flow_net.blocks.0.stem.0.conv.weight'],
                               source['module.block0.conv0.0.0.weight'])
    torch.testing.assert_close(state['flow_net.blocks.3.body.7.scale'],
                               source['module.block3.convblock.7.beta'])
    torch.testing.assert_close(state['flow_net.blocks.1.head.bias'],
                               source['module.block1.lastconv.0.bias'])
    assert not report.missing
    assert report.loaded_fraction == pytest.approx(1.0)
    assert any('block_tea' in key for key in report.dropped)

    with torch.no_grad():
        pred = model(torch.rand(1, 2, 3, 40, 40))
    assert pred.shape == (1, 3, 40, 40)


def test_refine_net_reported_missing(tmp_path):
    model = RIFE(refine_channels=8, timestep_prior=False)
    report = load_interpolation_weights(model, rife_v46_state_dict())
    assert report.missing
    assert all(key.startswith('refine.') for key in report.missing)


def test_other_rife_layout_rejected():
    state = {'module.block0.convblock.0.0.weight': torch.zeros(1)}
    with pytest.raises(ValueError, match='RIFE v4.0 to v4.5'):
        convert_rife_v4_keys(state)
    with pytest.raises(ValueError, match='v4.7'):
        convert_rife_v4_keys({'encode.cnn0.weight': torch.zeros(1)})


def test_load_training_checkpoint(tmp_path):
    trained = RIFE(flow_channels=(8,), scales=(1,), num_convs=1, refine_channels=4)
    path = tmp_path / 'iter_10.pth'
    torch.save({'state_dict': trained.state_dict(), 'meta': {'iter': 10}}, path)
    model = RIFE(flow_channels=(8,), scales=(1,), num_convs=1, refine_channels=4)

    report = load_interpolation_weights(model, str(path))

    assert report.source == str(path)
    assert not report.missing
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)


def test_release_weights_rejected_with_prior():
    model = RIFE(refine_channels=None, flow_prior={})
    assert model.flow_prior is not None
    with pytest.raises(ValueError, match='without flow_prior'):
        load_interpolation_weights(model, rife_v46_state_dict())
