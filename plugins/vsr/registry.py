"""Registries of the ``vsr`` plugin (children of vidft's registries)."""
from vidft.registry import scoped_registries

_registries = scoped_registries('vsr')

MODELS = _registries.MODELS
DATASETS = _registries.DATASETS
TRANSFORMS = _registries.TRANSFORMS
INFERENCERS = _registries.INFERENCERS
