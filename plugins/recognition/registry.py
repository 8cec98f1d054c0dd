"""Registries of the recognition plugin (scope ``recognition``).

Components registered here are named ``'recognition.<Name>'`` in configs.
"""
from vidft.registry import scoped_registries

_REGISTRIES = scoped_registries('recognition')

MODELS = _REGISTRIES.MODELS
BACKBONES = _REGISTRIES.BACKBONES
HEADS = _REGISTRIES.HEADS
DATASETS = _REGISTRIES.DATASETS
TRANSFORMS = _REGISTRIES.TRANSFORMS
METRICS = _REGISTRIES.METRICS
HOOKS = _REGISTRIES.HOOKS
INFERENCERS = _REGISTRIES.INFERENCERS

__all__ = ['BACKBONES', 'DATASETS', 'HEADS', 'HOOKS', 'INFERENCERS',
           'METRICS', 'MODELS', 'TRANSFORMS']
