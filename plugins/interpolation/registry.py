"""Registries of the interpolation plugin (scope ``interpolation``).

Components registered here are named ``'interpolation.<Name>'`` in configs.
"""
from vidft.registry import scoped_registries

_REGISTRIES = scoped_registries('interpolation')

MODELS = _REGISTRIES.MODELS
LOSSES = _REGISTRIES.LOSSES
DATASETS = _REGISTRIES.DATASETS
TRANSFORMS = _REGISTRIES.TRANSFORMS
METRICS = _REGISTRIES.METRICS
INFERENCERS = _REGISTRIES.INFERENCERS

__all__ = ['MODELS', 'LOSSES', 'DATASETS', 'TRANSFORMS', 'METRICS',
           'INFERENCERS']
