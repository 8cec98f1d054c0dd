"""Evaluation metrics shared by vidft's tasks.

The METRICS registry imports this package the first time it is searched;
importing it registers every metric. :mod:`.classification` contains the same
computations as plain functions of score and label arrays.
"""
from .classification import (confusion_matrix, mean_class_accuracy,
                             top_k_accuracy)
from .image_quality import PSNR, SSIM, calculate_psnr, calculate_ssim
from .metrics import AccuracyMetric, ConfusionMatrix

__all__ = [
    'AccuracyMetric', 'ConfusionMatrix', 'PSNR', 'SSIM', 'calculate_psnr',
    'calculate_ssim', 'confusion_matrix', 'mean_class_accuracy',
    'top_k_accuracy'
]
