"""Top-k accuracy and mean class accuracy for single-label recognition."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from vidft.registry import METRICS

from ..classification import (check_topk, confusion_matrix, label_ranks,
                              per_class_recall, predict_top1)
from ._samples import class_scores, gt_class_index


@METRICS.register_module()
class AccuracyMetric(BaseMetric):
    """Top-k accuracy and mean class accuracy over a whole dataset.

    Reported keys, with the prefix ``acc`` by default:

    * ``acc/top{k}`` for each k in ``topk``: the fraction of samples whose
      label is among the k highest scores;
    * ``acc/mean_class_accuracy``: the top-1 recall of each class, averaged
      over the classes that occur in the ground truth. Classes without
      ground-truth samples are left out, whether or not they are predicted.

    All values are fractions in ``[0, 1]``. Equal scores are ranked by class
    index, lowest first, so results are deterministic and the top-1
    prediction equals ``argmax`` (see :mod:`vidft.evaluation.classification`).

    Reduction across ranks: each rank keeps the scores and labels of its own
    samples. mmengine's :meth:`BaseMetric.evaluate` gathers them on rank 0
    (``collect_device``), restores the dataset order and drops the samples
    that the sampler repeated to pad the last batch. Rank 0 then computes the
    metrics over the full dataset and broadcasts them. Nothing is averaged
    per rank, so the result equals a single-process evaluation.

    Args:
        topk: The k values of top-k accuracy. A k larger than the number of
            classes raises ValueError at the first batch, because the
            accuracy would be 1.0 for any model. A k equal to it is allowed
            (and equally uninformative); it logs a warning once.
        collect_device: Device used to gather results across ranks,
            ``'cpu'`` or ``'gpu'``.
        prefix: Prefix of the reported keys; defaults to ``'acc'``.
        collect_dir: Folder shared by all ranks for gathering on the CPU;
            a temporary folder when None.
    """

    default_prefix: Optional[str] = 'acc'

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if isinstance(topk, int):
            topk = (topk, )
        topk = tuple(topk)
        if not topk:
            raise ValueError('expected at least one k in topk, got ()')
        # The number of classes is checked against topk at the first batch.
        check_topk(topk)
        self.topk: Tuple[int, ...] = topk
        self._checked_num_classes: Optional[int] = None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the class scores and the label of every sample."""
        for sample in data_samples:
            scores = class_scores(sample)
            if scores.shape[0] != self._checked_num_classes:
                self._check_num_classes(scores.shape[0])
            self.results.append((scores, gt_class_index(sample)))

    def _check_num_classes(self, num_classes: int) -> None:
        check_topk(self.topk, num_classes)
        if num_classes in self.topk:
            print_log(
                f'top-{num_classes} accuracy is 1.0 for any model with '
                f'{num_classes} classes; drop {num_classes} from topk to '
                'hide it', logger='current', level=logging.WARNING)
        self._checked_num_classes = num_classes

    def compute_metrics(self, results: List[Tuple[np.ndarray, int]]
                        ) -> Dict[str, float]:
        """Compute the metrics from all samples (on rank 0 only)."""
        if not results:
            raise ValueError('expected predictions for at least one sample, '
                             'got none; the evaluation dataset is empty')
        num_classes = {scores.shape[0] for scores, _ in results}
        if len(num_classes) != 1:
            raise ValueError(f'expected the same number of class scores for '
                             f'every sample, got {sorted(num_classes)}')
        scores = np.stack([scores for scores, _ in results])
        labels = np.array([label for _, label in results], dtype=np.int64)

        ranks = label_ranks(scores, labels)
        metrics = {f'top{k}': float((ranks < k).mean()) for k in self.topk}

        matrix = confusion_matrix(predict_top1(scores), labels,
                                  scores.shape[1])
        recall = per_class_recall(matrix)
        present = int(np.isfinite(recall).sum())
        if present < scores.shape[1]:
            print_log(
                f'mean class accuracy averages over the {present} of '
                f'{scores.shape[1]} classes that have ground-truth samples',
                logger='current', level=logging.INFO)
        metrics['mean_class_accuracy'] = float(np.nanmean(recall))
        return metrics
