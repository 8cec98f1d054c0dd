"""vidft recognizers reproduce mmaction2's logits for mmaction2 checkpoints.

The fixtures were written by ``tools/mmaction2/make_references.py`` with
mmaction2 1.2.0: a randomly initialised model of each family (ResNet-50
block structure, reduced widths, random BatchNorm statistics) saved as an
mmaction2 checkpoint, a fixed input and mmaction2's eval-mode logits.
mmaction2 is not needed here.
"""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch

import vidft_recognition  # noqa: F401  (registers the recognizers)
from vidft.registry import MODELS
from vidft_recognition.mmaction2 import (convert_mmaction2_cfg,
                                         load_mmaction2_checkpoint)

FIXTURES = Path(__file__).parent / 'fixtures'
NUM_CLASSES = 7
TOLERANCE = 1e-4

# Widths of the fixtures: the 2D ResNet-50s keep the 64-channel stem and
# divide the stage widths by 16; the 3D ones have base_channels=4.
STAGE_CHANNELS_2D = (4, 8, 16, 32)
BASE_CHANNELS_3D = 4


def tsn_config(temporal_shift=None):
    cfg = dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name='resnet50',
                      model_kwargs=dict(channels=STAGE_CHANNELS_2D)),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES,
                      dropout_ratio=0.4))
    if temporal_shift is not None:
        cfg['temporal_shift'] = temporal_shift
    return cfg


def i3d_config():
    return dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.ResNet3d', depth=50,
                      base_channels=BASE_CHANNELS_3D, conv1_kernel=(5, 7, 7),
                      conv1_stride_t=2, pool1_stride_t=2, with_pool2=True,
                      inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0),
                               (0, 1, 0))),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES))


def slowonly_config():
    return dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.ResNet3d', depth=50,
                      base_channels=BASE_CHANNELS_3D, conv1_kernel=(1, 7, 7),
                      conv1_stride_t=1, pool1_stride_t=1, with_pool2=False,
                      inflate=(0, 0, 1, 1)),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES))


FAMILIES = {
    'tsn_r50': tsn_config(),
    'tsm_r50': tsn_config(dict(num_segments=4, shift_div=8)),
    'i3d_r50': i3d_config(),
    'slowonly_r50': slowonly_config(),
}


def load_inputs(name):
    inputs = torch.from_numpy(np.load(FIXTURES / f'{name}_input.npy'))
    if inputs.dim() == 6:
        # mmaction2's 3D layout (N, views, C, T, H, W) with one view.
        inputs = inputs[:, 0]
    return inputs


def run_model(cfg, name):
    model = MODELS.build(copy.deepcopy(cfg))
    report = load_mmaction2_checkpoint(model, str(FIXTURES / f'{name}.pth'))
    model.eval()
    with torch.no_grad():
        logits = model(load_inputs(name), mode='tensor')
    return logits, report


@pytest.mark.parametrize('name', sorted(FAMILIES))
def test_logits_match_mmaction2(name):
    logits, report = run_model(FAMILIES[name], name)
    expected = np.load(FIXTURES / f'{name}_logits.npy')

    assert report.missing == []
    assert report.unexpected == []
    assert report.reinitialized == []
    assert report.loaded_fraction == 1.0
    assert logits.shape == expected.shape
    # Random weights give logits of order 1, so 1e-4 checks every layer.
    assert np.abs(expected).max() > 0.5
    assert np.abs(logits.numpy() - expected).max() < TOLERANCE


def test_tsm_without_shift_differs():
    # The shift matters for the TSM fixture, so its parity checks the shift.
    logits, _ = run_model(tsn_config(), 'tsm_r50')
    expected = np.load(FIXTURES / 'tsm_r50_logits.npy')
    assert np.abs(logits.numpy() - expected).max() > 1e-2


def test_batchnorm_statistics_matter():
    # The fixtures carry random BatchNorm statistics; dropping them changes
    # the logits, so the parity checks that they are mapped.
    model = MODELS.build(copy.deepcopy(FAMILIES['tsn_r50']))
    load_mmaction2_checkpoint(model, str(FIXTURES / 'tsn_r50.pth'),
                              drop=[r'running_(mean|var)$'])
    model.eval()
    with torch.no_grad():
        logits = model(load_inputs('tsn_r50'), mode='tensor')
    expected = np.load(FIXTURES / 'tsn_r50_logits.npy')
    assert np.abs(logits.numpy() - expected).max() > 1e-2


def test_fixtures_are_mmaction2_checkpoints():
    checkpoint = torch.load(FIXTURES / 'tsm_r50.pth', weights_only=True)
    assert set(checkpoint) == {'state_dict', 'meta'}
    assert checkpoint['meta']['mmaction2_version'] == '1.2.0'
    keys = checkpoint['state_dict']
    assert 'backbone.layer1.0.conv1.conv.net.weight' in keys
    assert 'cls_head.fc_cls.weight' in keys


def test_fixture_size_is_small():
    total = sum(path.stat().st_size for path in FIXTURES.iterdir())
    assert total < 5 * 2**20


@pytest.mark.parametrize('name', ['i3d_r50', 'slowonly_r50'])
def test_converted_config_matches_mmaction2(name):
    # The checkpoint stores the mmaction2 model config it was built from;
    # the model that convert-config makes of it gives mmaction2's logits.
    checkpoint = torch.load(FIXTURES / f'{name}.pth', weights_only=True)
    mmaction2_model = checkpoint['meta']['model_config']
    cfg = convert_mmaction2_cfg(dict(model=mmaction2_model)).config['model']

    logits, report = run_model(cfg, name)
    expected = np.load(FIXTURES / f'{name}_logits.npy')
    assert report.missing == []
    assert report.unexpected == []
    assert np.abs(logits.numpy() - expected).max() < TOLERANCE
