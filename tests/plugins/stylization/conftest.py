"""Fixtures of the stylization tests."""
from typing import Callable

import pytest
import torch

from stylization_helpers import lite0_loss_config, textured_frames, \
    write_video


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Run on one intra-op thread: the tensors are tiny and the machine is
    shared."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def make_video(tmp_path) -> Callable[..., str]:
    """Write a synthetic moving-texture video into ``tmp_path``."""
    def make(name: str = 'clip.mp4', num_frames: int = 6, height: int = 32,
             width: int = 48, shift: int = 1, seed: int = 0) -> str:
        frames = textured_frames(num_frames, height, width, shift, seed)
        return write_video(str(tmp_path / name), frames)

    return make


@pytest.fixture(scope='session')
def lite0_loss():
    """One PerceptualLoss on the real Lite0 weights for the whole session."""
    import vidft_stylization  # noqa: F401
    from vidft.registry import LOSSES
    return LOSSES.build(lite0_loss_config())
