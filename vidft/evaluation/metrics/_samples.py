"""Read labels and scores from the data samples a model's predict step returns.

mmengine's ``Evaluator`` hands metrics each ``VideoDataSample`` converted to a
dict, so the fields arrive as tensors, arrays or plain numbers.
"""
from typing import Any, Mapping

import numpy as np
import torch


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _field(sample: Mapping, key: str) -> Any:
    if key not in sample:
        raise KeyError(
            f"expected the data sample to contain '{key}', got the keys "
            f'{sorted(sample)}; the model must return data samples from its '
            "predict mode with 'pred_score' set and the dataset must provide "
            "'gt_label'")
    return sample[key]


def gt_class_index(sample: Mapping) -> int:
    """Return the single ground-truth class index of ``sample``.

    Raises:
        ValueError: the label is multi-hot or has several entries (a
            multi-label dataset, which accuracy metrics do not support).
    """
    label = _to_numpy(_field(sample, 'gt_label'))
    if label.size != 1:
        raise ValueError(
            f'expected one ground-truth class index per sample, got a label '
            f'of shape {label.shape}; multi-label datasets '
            '(multi_class=True) need a multi-label metric such as mean '
            'average precision, not accuracy')
    value = label.reshape(()).item()
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f'expected an integer class index as gt_label, got '
                         f'{value}')
    return int(value)


def class_scores(sample: Mapping) -> np.ndarray:
    """Return the 1-D float32 class scores of ``sample``."""
    scores = _to_numpy(_field(sample, 'pred_score')).astype(np.float32)
    if scores.ndim != 1:
        raise ValueError(
            f"expected 'pred_score' of shape (num_classes,), got shape "
            f'{scores.shape}; a multi-view model must average its views '
            'before returning predictions')
    return scores
