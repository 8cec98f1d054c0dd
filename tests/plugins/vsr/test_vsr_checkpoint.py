"""Checkpoints written with mmagic's and BasicSR's BasicVSR key names load
into vidft's BasicVSR.

The foreign names below are spelled out by hand from the two projects'
sources (mmagic ``basicvsr_net.py``; BasicSR ``basicvsr_arch.py`` and
``spynet_arch.py``), not produced by the code under test.
"""
import pytest
import torch

from vidft_vsr.checkpoint import (convert_state_dict, detect_format,
                                  load_vsr_checkpoint)
from vidft_vsr.models import BasicVSR, SPyNet

MID, BLOCKS = 8, 2


def _model(seed: int) -> BasicVSR:
    torch.manual_seed(seed)
    return BasicVSR(scale=4, mid_channels=MID, num_blocks=BLOCKS)


def _mmagic_spynet_keys(prefix: str):
    for level in range(6):
        for conv in range(5):
            for param in ('weight', 'bias'):
                yield (f'{prefix}basic_module.{level}.basic_module.{conv}.'
                       f'conv.{param}', f'levels.{level}.convs.{conv}.{param}')


def _basicsr_spynet_keys(prefix: str):
    for level in range(6):
        for conv in range(5):
            for param in ('weight', 'bias'):
                # nn.Sequential(conv, ReLU, conv, ReLU, ...): convs at 0..8.
                yield (f'{prefix}basic_module.{level}.basic_module.'
                       f'{2 * conv}.{param}',
                       f'levels.{level}.convs.{conv}.{param}')


def _mmagic_state(model: BasicVSR):
    ours = model.state_dict()
    state = {}
    for theirs, mine in _mmagic_spynet_keys('generator.spynet.'):
        state[theirs] = ours['spynet.' + mine].clone()
    state['generator.spynet.mean'] = torch.rand(1, 3, 1, 1)
    state['generator.spynet.std'] = torch.rand(1, 3, 1, 1)
    for direction in ('backward', 'forward'):
        for param in ('weight', 'bias'):
            state[f'generator.{direction}_resblocks.main.0.{param}'] = ours[
                f'{direction}_branch.input_conv.{param}'].clone()
            for block in range(BLOCKS):
                for conv in ('conv1', 'conv2'):
                    state[f'generator.{direction}_resblocks.main.2.{block}.'
                          f'{conv}.{param}'] = ours[
                              f'{direction}_branch.blocks.{block}.{conv}.'
                              f'{param}'].clone()
    for param in ('weight', 'bias'):
        state[f'generator.upsample1.upsample_conv.{param}'] = ours[
            f'upsample.0.conv.{param}'].clone()
        state[f'generator.upsample2.upsample_conv.{param}'] = ours[
            f'upsample.1.conv.{param}'].clone()
        for name in ('fusion', 'conv_hr', 'conv_last'):
            state[f'generator.{name}.{param}'] = ours[
                f'{name}.{param}'].clone()
    return state


def _basicsr_state(model: BasicVSR):
    ours = model.state_dict()
    state = {}
    for theirs, mine in _basicsr_spynet_keys('spynet.'):
        state[theirs] = ours['spynet.' + mine].clone()
    state['spynet.mean'] = torch.rand(1, 3, 1, 1)
    state['spynet.std'] = torch.rand(1, 3, 1, 1)
    for direction in ('backward', 'forward'):
        for param in ('weight', 'bias'):
            state[f'{direction}_trunk.main.0.{param}'] = ours[
                f'{direction}_branch.input_conv.{param}'].clone()
            for block in range(BLOCKS):
                for conv in ('conv1', 'conv2'):
                    state[f'{direction}_trunk.main.2.{block}.{conv}.'
                          f'{param}'] = ours[
                              f'{direction}_branch.blocks.{block}.{conv}.'
                              f'{param}'].clone()
    for param in ('weight', 'bias'):
        state[f'upconv1.{param}'] = ours[f'upsample.0.conv.{param}'].clone()
        state[f'upconv2.{param}'] = ours[f'upsample.1.conv.{param}'].clone()
        for name in ('fusion', 'conv_hr', 'conv_last'):
            state[f'{name}.{param}'] = ours[f'{name}.{param}'].clone()
    return state


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module):
    state_b = b.state_dict()
    for key, value in a.state_dict().items():
        assert torch.equal(value, state_b[key]), key


def test_detect_format():
    source = _model(0)
    assert detect_format(list(_mmagic_state(source))) == 'mmagic'
    assert detect_format(list(_basicsr_state(source))) == 'basicsr'
    assert detect_format(list(source.state_dict())) == 'vidft'


@pytest.mark.parametrize('framework', ['mmagic', 'basicsr'])
def test_whole_model_from_foreign_file(tmp_path, framework):
    source = _model(0)
    if framework == 'mmagic':
        checkpoint = dict(meta=dict(epoch=1), state_dict=_mmagic_state(source))
    else:
        checkpoint = dict(params=_basicsr_state(source))
    path = str(tmp_path / f'{framework}.pth')
    torch.save(checkpoint, path)

    target = _model(1)
    report = load_vsr_checkpoint(target, path, strict=True)

    _assert_same_weights(source, target)
    assert report.missing == []
    assert report.unexpected == []
    # SPyNet's constants, named as they are after the key map.
    assert sorted(report.dropped) == ['spynet.mean', 'spynet.std']
    assert report.loaded_fraction == pytest.approx(1.0)
    assert len(report.renamed) >= 60 + 4 * BLOCKS * 2
    lrs = torch.rand(1, 3, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(source(lrs), target(lrs))


def test_conversion_is_exact_for_each_key():
    source = _model(0)
    converted, renamed = convert_state_dict(_basicsr_state(source))
    assert renamed['spynet.basic_module.3.basic_module.8.bias'] == \
        'spynet.levels.3.convs.4.bias'
    assert renamed['forward_trunk.main.2.1.conv2.weight'] == \
        'forward_branch.blocks.1.conv2.weight'
    assert renamed['upconv2.weight'] == 'upsample.1.conv.weight'
    expected = set(source.state_dict()) | {'spynet.mean', 'spynet.std'}
    assert set(converted) == expected


def test_basicsr_relu_index_raises():
    with pytest.raises(ValueError, match='ReLU'):
        convert_state_dict(
            {'spynet.basic_module.0.basic_module.1.weight': torch.zeros(1)},
            'basicsr')


@pytest.mark.parametrize('framework', ['mmagic', 'basicsr'])
def test_standalone_spynet_file(tmp_path, framework):
    torch.manual_seed(0)
    source = SPyNet()
    ours = source.state_dict()
    pairs = (_mmagic_spynet_keys('') if framework == 'mmagic' else
             _basicsr_spynet_keys(''))
    state = {theirs: ours[mine].clone() for theirs, mine in pairs}
    state['mean'] = torch.rand(1, 3, 1, 1)
    path = str(tmp_path / 'spynet.pth')
    torch.save({'params': state} if framework == 'basicsr' else state, path)

    # Into a SPyNet module.
    torch.manual_seed(1)
    target = SPyNet()
    report = load_vsr_checkpoint(target, path, strict=True)
    _assert_same_weights(source, target)
    assert report.dropped == ['mean']

    # Into a whole BasicVSR at construction: the rest keeps its own init.
    model = BasicVSR(scale=4, mid_channels=MID, num_blocks=BLOCKS,
                     spynet_pretrained=path)
    _assert_same_weights(source, model.spynet)
