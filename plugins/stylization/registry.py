"""Registries of the ``stylization`` plugin (children of vidft's registries)."""
from vidft.registry import scoped_registries

_registries = scoped_registries('stylization')

MODELS = _registries.MODELS
LOSSES = _registries.LOSSES
DATASETS = _registries.DATASETS
TRANSFORMS = _registries.TRANSFORMS
METRICS = _registries.METRICS
INFERENCERS = _registries.INFERENCERS
