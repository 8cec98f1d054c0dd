"""Tests of the temporal shift module and its insertion into 2D backbones."""
import copy
import pickle

import pytest
import torch
import torchvision

from vidft.models.backbones import TimmBackbone, TorchvisionBackbone
from vidft_recognition.models.tsm import (TemporalShift,
                                          insert_temporal_shift,
                                          residual_branch_entry,
                                          temporal_shift)


def expected_shift(x, num_segments, shift_div):
    """Shift by explicit loops over clips, segments and channels."""
    frames, channels = x.shape[:2]
    fold = channels // shift_div
    out = torch.zeros_like(x)
    for clip in range(frames // num_segments):
        for t in range(num_segments):
            row = clip * num_segments + t
            for c in range(channels):
                if c < fold:
                    if t + 1 < num_segments:
                        out[row, c] = x[row + 1, c]
                elif c < 2 * fold:
                    if t > 0:
                        out[row, c] = x[row - 1, c]
                else:
                    out[row, c] = x[row, c]
    return out


def test_shift_of_known_tensor():
    # 1 clip, 3 segments, 4 channels, shift_div 4: fold = 1.
    # Value = 10 * segment + channel.
    x = torch.tensor([[10. * t + c for c in range(4)] for t in range(3)])
    x = x.view(3, 4, 1, 1)
    shifted = temporal_shift(x, num_segments=3, shift_div=4).view(3, 4)
    expected = torch.tensor([
        [10., 0., 2., 3.],   # channel 0 from t=1, channel 1 zero-padded
        [20., 1., 12., 13.],  # channel 0 from t=2, channel 1 from t=0
        [0., 11., 22., 23.],  # channel 0 zero-padded, channel 1 from t=1
    ])
    assert torch.equal(shifted, expected)


@pytest.mark.parametrize('num_segments, shift_div, channels',
                         [(4, 8, 16), (3, 4, 10), (1, 8, 8)])
def test_shift_matches_loops(num_segments, shift_div, channels):
    torch.manual_seed(0)
    x = torch.randn(2 * num_segments, channels, 3, 2)
    out = TemporalShift(num_segments, shift_div)(x)
    assert torch.equal(out, expected_shift(x, num_segments, shift_div))


def test_shift_keeps_clips_apart():
    # The last segment of clip 0 must not receive clip 1's first segment.
    x = torch.ones(4, 8, 1, 1)
    x[2:] = 5
    out = temporal_shift(x, num_segments=2, shift_div=8)
    assert out[1, 0].item() == 0
    assert out[2, 1].item() == 0


def test_shift_rejects_incomplete_clip():
    with pytest.raises(ValueError, match='multiple'):
        temporal_shift(torch.zeros(5, 8, 1, 1), num_segments=4)


def test_torchvision_resnet_keys_unchanged_and_branch_shifted():
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    keys = list(model.state_dict())
    reference = copy.deepcopy(model)

    shifted = insert_temporal_shift(model, num_segments=4, shift_div=8)
    assert list(model.state_dict()) == keys
    assert len(shifted) == 8  # every BasicBlock of resnet18
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in reference.parameters())

    # conv1 of a block receives the shifted input, the shortcut does not.
    x = torch.randn(8, 64, 8, 8)
    block, plain = model.layer1[0], reference.layer1[0]
    seen = {}

    def record_input(module, args, output):
        seen['input'] = args[0]

    block.conv1.register_forward_hook(record_input)
    with torch.no_grad():
        out = block(x)
        shifted_x = temporal_shift(x, 4, 8)
        branch = plain.bn2(plain.conv2(plain.relu(plain.bn1(
            plain.conv1(shifted_x)))))
        expected = plain.relu(branch + x)
    assert torch.equal(seen['input'], shifted_x)
    assert torch.allclose(out, expected, atol=1e-6)


def test_inverted_residuals_shift_only_with_shortcut():
    model = torchvision.models.mobilenet_v2()
    shifted = insert_temporal_shift(model, num_segments=2)
    with_shortcut = [name for name, m in model.named_modules()
                     if getattr(m, 'use_res_connect', False)]
    assert shifted == with_shortcut
    assert len(shifted) == 10

    out = model(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 1000)


@pytest.mark.parametrize('build', [
    lambda: TorchvisionBackbone('resnet18'),
    lambda: TorchvisionBackbone('efficientnet_b0'),
    lambda: TorchvisionBackbone('mobilenet_v3_small'),
    lambda: TimmBackbone('resnet18'),
    lambda: TimmBackbone('efficientnet_lite0'),
    lambda: TimmBackbone('mobilenetv3_small_100'),
], ids=['tv_resnet18', 'tv_efficientnet_b0', 'tv_mobilenet_v3',
        'timm_resnet18', 'timm_efficientnet_lite0', 'timm_mobilenetv3'])
def test_backbones_keep_keys_and_shift_branch_inputs(build):
    torch.manual_seed(0)
    backbone = build().eval()
    keys = list(backbone.state_dict())
    shifted = insert_temporal_shift(backbone, num_segments=4)
    assert list(backbone.state_dict()) == keys
    assert shifted

    # The first layer of each residual branch receives the shifted block
    # input.
    block_inputs, branch_inputs = {}, {}
    modules = dict(backbone.named_modules())
    for name in shifted:
        block = modules[name]
        first_layer = getattr(block, residual_branch_entry(block))

        def record_block(module, args, name=name):
            block_inputs[name] = args[0].clone()

        def record_branch(module, args, output, name=name):
            branch_inputs[name] = args[0].clone()

        block.register_forward_pre_hook(record_block)
        first_layer.register_forward_hook(record_branch)
    with torch.no_grad():
        backbone(torch.randn(4, 3, 32, 32))
    assert set(branch_inputs) == set(shifted)
    for name in shifted:
        expected = temporal_shift(block_inputs[name], 4, 8)
        assert torch.equal(branch_inputs[name], expected), name


def test_shifted_frames_depend_on_neighbours():
    torch.manual_seed(0)
    backbone = TorchvisionBackbone('resnet18').eval()
    insert_temporal_shift(backbone, num_segments=4)
    x = torch.randn(4, 3, 32, 32)
    changed = x.clone()
    changed[1] = torch.randn(3, 32, 32)
    with torch.no_grad():
        before, after = backbone(x), backbone(changed)
    # Segments 0 and 2 are neighbours of segment 1; with shifts in every
    # block, segment 3 is reached too.
    for segment in (0, 2, 3):
        assert not torch.allclose(before[segment], after[segment])


def test_hooked_model_copies_and_pickles():
    model = torchvision.models.resnet18().eval()
    insert_temporal_shift(model, num_segments=2)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
        copied = copy.deepcopy(model)
        restored = pickle.loads(pickle.dumps(model))
        assert torch.equal(copied(x), expected)
        assert torch.equal(restored(x), expected)
    # The copy's hook uses the copy's shift module.
    copied.layer1[0].temporal_shift.num_segments = 1
    assert model.layer1[0].temporal_shift.num_segments == 2


def test_model_without_residual_blocks():
    plain = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    with pytest.raises(ValueError, match='no residual block'):
        insert_temporal_shift(plain, num_segments=4)


def test_double_insertion_and_bad_arguments():
    model = torchvision.models.resnet18()
    insert_temporal_shift(model, num_segments=4)
    with pytest.raises(ValueError, match='already'):
        insert_temporal_shift(model, num_segments=4)
    with pytest.raises(ValueError, match='shift_div'):
        TemporalShift(4, shift_div=1)
    with pytest.raises(ValueError, match='num_segments'):
        TemporalShift(0)
