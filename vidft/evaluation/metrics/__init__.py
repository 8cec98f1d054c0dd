"""Metrics registered in vidft's METRICS registry."""
from .accuracy import AccuracyMetric
from .confusion_matrix import ConfusionMatrix

__all__ = ['AccuracyMetric', 'ConfusionMatrix']
