"""A checkpoint whose pickle would run code is rejected by every loader in
vidft and its plugins, with an error that names the trust flag, and the code
does not run."""
import importlib
import re
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn as nn

from vidft.engine.checkpoint import (CheckpointLoadError,
                                     install_safe_loader, safe_load)
from vidft.finetune import load_pretrained, load_state_dict_file
from vidft.finetune.checkpoint_io import UntrustedPickleError

REPO = Path(__file__).resolve().parents[2]


class RunsCode:
    """Unpickling this creates the file ``marker``: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


@pytest.fixture
def malicious(tmp_path: Path) -> tuple:
    marker = tmp_path / 'code_ran'
    path = tmp_path / 'weights.pth'
    torch.save({'state_dict': {'weight': torch.zeros(2)},
                'payload': RunsCode(str(marker))}, path)
    return str(path), marker


def _plugin_loader(module: str, name: str) -> Callable[[str], object]:
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as error:
        pytest.skip(f'{module} is not importable: {error}')


LOADERS = {
    'engine.safe_load': lambda path: safe_load(path),
    'finetune.load_state_dict_file': load_state_dict_file,
    'finetune.load_pretrained': lambda path: load_pretrained(
        nn.Linear(2, 1), path),
    'vsr.read_checkpoint': lambda path: _plugin_loader(
        'vidft_vsr.checkpoint', 'read_checkpoint')(path),
    'interpolation.read_pickled_state_dict': lambda path: _plugin_loader(
        'vidft_interpolation.converters', 'read_pickled_state_dict')(path),
}


@pytest.mark.parametrize('loader', sorted(LOADERS))
def test_code_pickle_rejected(malicious, loader: str) -> None:
    path, marker = malicious
    with pytest.raises((CheckpointLoadError, UntrustedPickleError)) as info:
        LOADERS[loader](path)
    assert 'trust=True' in str(info.value)
    assert not marker.exists()


def test_mmengine_load_checkpoint_rejected(malicious) -> None:
    # init_cfg=dict(type='Pretrained') and other mmengine code paths.
    from mmengine.runner.checkpoint import load_checkpoint
    install_safe_loader()
    path, marker = malicious
    with pytest.raises(CheckpointLoadError, match='trust=True'):
        load_checkpoint(nn.Linear(2, 1), path)
    assert not marker.exists()


def test_trust_flag_runs_code(malicious) -> None:
    # The flag named in the errors really is the way to load such a file.
    path, marker = malicious
    safe_load(path, trust=True)
    assert marker.exists()


def test_every_torch_load_is_safe() -> None:
    # Each torch.load in vidft and the plugins passes weights_only=True,
    # except the trust=True branches.
    calls = []
    for root in ('vidft', 'plugins'):
        for source in (REPO / root).rglob('*.py'):
            text = source.read_text(encoding='utf-8')
            for match in re.finditer(r'torch\.load\(([^)]*)\)', text):
                calls.append((source.relative_to(REPO), match.group(1)))
    assert calls
    unsafe = [(str(path), args) for path, args in calls
              if 'weights_only=True' not in args and
              'weights_only=False' not in args]
    assert unsafe == []
    trusted = [str(path) for path, args in calls
               if 'weights_only=False' in args]
    assert sorted(set(trusted)) == ['vidft/engine/checkpoint.py',
                                    'vidft/finetune/checkpoint_io.py']
