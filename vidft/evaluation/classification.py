"""Classification accuracy as plain functions of scores and labels.

Conventions shared by every function here:

* ``scores`` is an ``(N, C)`` array of class scores (logits or
  probabilities; only their order matters) and ``labels`` an ``(N,)`` array of
  class indices in ``[0, C)``.
* Ties are broken by class index: among equal scores the lower class index
  ranks higher. This equals a stable sort of the scores in descending order,
  and it makes the top-1 prediction equal to ``argmax`` (which returns the
  first maximum). A class whose score ties with the label's score therefore
  pushes the label down only when its index is lower.
* Accuracies are fractions in ``[0, 1]``, not percentages.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


def _as_numpy(value: ArrayLike) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def check_scores_and_labels(scores: ArrayLike,
                            labels: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Validate and convert ``scores`` (N, C) and ``labels`` (N,) to numpy.

    Raises:
        ValueError: on wrong shapes, non-finite scores, or labels outside
            ``[0, C)``.
    """
    scores = _as_numpy(scores)
    labels = _as_numpy(labels)
    if scores.ndim != 2:
        raise ValueError(f'expected scores of shape (N, C), got shape '
                         f'{tuple(scores.shape)}')
    if labels.ndim != 1 or labels.shape[0] != scores.shape[0]:
        raise ValueError(f'expected labels of shape ({scores.shape[0]},) to '
                         f'match scores of shape {tuple(scores.shape)}, got '
                         f'shape {tuple(labels.shape)}')
    if labels.size and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f'expected integer class indices as labels, got '
                         f'dtype {labels.dtype}')
    if not np.isfinite(scores).all():
        bad = int((~np.isfinite(scores)).any(axis=1).sum())
        raise ValueError(f'expected finite scores, got NaN or infinity in '
                         f'{bad} of {scores.shape[0]} samples; the model '
                         'diverged or its checkpoint is broken')

    num_classes = scores.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f'expected labels in [0, {num_classes}) for {num_classes} '
            f'classes, got labels from {labels.min()} to {labels.max()}; '
            "the head's num_classes does not match the dataset's labels")
    return scores, labels.astype(np.int64)


def label_ranks(scores: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Return the 0-based rank of each sample's label among its scores.

    The rank counts the classes with a higher score plus the classes with an
    equal score and a lower index (see the module doc for the tie rule).
    """
    scores, labels = check_scores_and_labels(scores, labels)
    rows = np.arange(scores.shape[0])
    label_scores = scores[rows, labels][:, None]
    higher = (scores > label_scores).sum(axis=1)
    class_index = np.arange(scores.shape[1])[None, :]
    tied_before = ((scores == label_scores) &
                   (class_index < labels[:, None])).sum(axis=1)
    return higher + tied_before


def top_k_accuracy(scores: ArrayLike, labels: ArrayLike,
                   topk: Sequence[int] = (1, 5)) -> List[float]:
    """Compute the fraction of samples whose label is among the k top scores.

    Returns one accuracy per entry of ``topk``, in the same order.

    Raises:
        ValueError: a k is not a positive int or exceeds the number of
            classes.
    """
    scores, labels = check_scores_and_labels(scores, labels)
    check_topk(topk, scores.shape[1])
    if labels.size == 0:
        raise ValueError('expected at least one sample, got none')
    ranks = label_ranks(scores, labels)
    return [float((ranks < k).mean()) for k in topk]


def check_topk(topk: Sequence[int], num_classes: Optional[int] = None
               ) -> None:
    """Raise ValueError unless every k is a positive int.

    With ``num_classes`` given, a k above it is an error too: the label is
    then always among the top k, so the accuracy would read 1.0 without
    measuring anything.
    """
    for k in topk:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f'expected positive integers in topk, got '
                             f'{tuple(topk)}')
        if num_classes is not None and k > num_classes:
            raise ValueError(
                f'expected every k in topk to be at most the number of '
                f'classes, {num_classes}, got topk={tuple(topk)}; top-{k} '
                f'accuracy would be 1.0 for any model. Use e.g. topk=(1,) '
                f'or topk=(1, {max(1, num_classes - 1)}).')


def predict_top1(scores: ArrayLike) -> np.ndarray:
    """Return the top-1 class of each row; ties go to the lowest index."""
    scores = _as_numpy(scores)
    if scores.ndim != 2:
        raise ValueError(f'expected scores of shape (N, C), got shape '
                         f'{tuple(scores.shape)}')
    return scores.argmax(axis=1).astype(np.int64)


def confusion_matrix(pred_labels: ArrayLike, gt_labels: ArrayLike,
                     num_classes: int) -> np.ndarray:
    """Count samples by ground-truth class (rows) and predicted class (columns).

    Returns an int64 array of shape ``(num_classes, num_classes)``.
    """
    pred_labels = _as_numpy(pred_labels).astype(np.int64).ravel()
    gt_labels = _as_numpy(gt_labels).astype(np.int64).ravel()
    if pred_labels.shape != gt_labels.shape:
        raise ValueError(f'expected as many predictions as labels, got '
                         f'{pred_labels.size} predictions and '
                         f'{gt_labels.size} labels')
    for name, values in (('predicted', pred_labels), ('ground-truth',
                                                       gt_labels)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f'expected {name} labels in [0, {num_classes}), got labels '
                f'from {values.min()} to {values.max()}; set num_classes to '
                'the number of classes of the dataset')
    flat = gt_labels * num_classes + pred_labels
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def per_class_recall(matrix: np.ndarray) -> np.ndarray:
    """Return the recall of each class from a confusion matrix.

    Classes without ground-truth samples get NaN, because their recall is
    undefined.
    """
    support = matrix.sum(axis=1).astype(np.float64)
    hits = np.diag(matrix).astype(np.float64)
    recall = np.full(matrix.shape[0], np.nan)
    present = support > 0
    recall[present] = hits[present] / support[present]
    return recall


def mean_class_accuracy(scores: ArrayLike, labels: ArrayLike) -> float:
    """Average the top-1 recall over the classes present in ``labels``.

    A class that never occurs in ``labels`` is left out of the mean, whether
    or not the model predicts it. (mmaction2 1.x, in
    ``mmaction/evaluation/functional/accuracy.py``, instead averages over every
    class that occurs in the labels or the predictions, so a class that is
    only predicted counts as 0.)
    """
    scores, labels = check_scores_and_labels(scores, labels)
    if labels.size == 0:
        raise ValueError('expected at least one sample, got none')
    matrix = confusion_matrix(predict_top1(scores), labels, scores.shape[1])
    return float(np.nanmean(per_class_recall(matrix)))
