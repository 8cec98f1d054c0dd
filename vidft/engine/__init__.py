"""Training and testing engine: vidft's mmengine Runner and its parts.

* :func:`build_runner` prepares a config and builds a :class:`VidftRunner`
  on CPU or GPU, alone or under torchrun / slurm.
* :mod:`vidft.engine.checkpoint`: safe loading and atomic writing.
* :mod:`vidft.engine.hooks`: checkpoint retention, non-finite loss handling,
  random-state resume, training curves.
* :mod:`vidft.engine.optim_wrappers`: mixed precision on CPU and GPU.
"""
from .builder import build_runner, prepare_config
from .checkpoint import CheckpointLoadError, atomic_save, safe_load
from .optim_wrappers import AmpOptimWrapper
from .runner import VidftRunner

__all__ = ['AmpOptimWrapper', 'CheckpointLoadError', 'VidftRunner',
           'atomic_save', 'build_runner', 'prepare_config', 'safe_load']
