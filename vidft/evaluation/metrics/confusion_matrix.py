"""Confusion matrix of a classifier, saved as a PNG figure and a CSV table."""
import csv
import logging
import os
import os.path as osp
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log

from vidft.registry import METRICS

if TYPE_CHECKING:
    import matplotlib.figure

from ..classification import confusion_matrix
from ._samples import class_scores, gt_class_index

NORMALIZE_MODES = ('true', 'pred', 'all')

# Beyond these class counts the figure leaves out per-cell numbers and then
# tick labels, because they would overlap.
MAX_CLASSES_WITH_CELL_TEXT = 30
MAX_CLASSES_WITH_TICK_LABELS = 80


def normalize_matrix(matrix: np.ndarray, mode: Optional[str]) -> np.ndarray:
    """Divide counts by row sums ('true'), column sums ('pred') or the total.

    Rows or columns without samples become 0 instead of NaN.
    """
    if mode is None:
        return matrix.astype(np.float64)
    if mode not in NORMALIZE_MODES:
        raise ValueError(f'expected normalize to be one of {NORMALIZE_MODES} '
                         f'or None, got {mode!r}')
    if mode == 'true':
        totals = matrix.sum(axis=1, keepdims=True)
    elif mode == 'pred':
        totals = matrix.sum(axis=0, keepdims=True)
    else:
        totals = np.array(matrix.sum())
    with np.errstate(invalid='ignore', divide='ignore'):
        result = matrix / totals
    return np.nan_to_num(result, nan=0.0)


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str],
                          path: str, title: str = 'Confusion matrix'
                          ) -> 'matplotlib.figure.Figure':
    """Draw ``matrix`` (rows: ground truth, columns: prediction) to a PNG.

    Uses matplotlib's Agg canvas directly, so the global pyplot backend is
    left alone. Returns the figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    num_classes = matrix.shape[0]
    side = min(4.0 + 0.35 * num_classes, 40.0)
    figure = Figure(figsize=(side + 1.5, side))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    is_count = np.issubdtype(matrix.dtype, np.integer)
    # Fractions share one colour scale, so figures of two runs compare.
    value_range = {} if is_count else dict(vmin=0.0, vmax=1.0)
    image = axes.imshow(matrix, cmap='Blues', interpolation='nearest',
                        **value_range)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_title(title)
    axes.set_xlabel('Predicted class')
    axes.set_ylabel('Ground-truth class')

    if num_classes <= MAX_CLASSES_WITH_TICK_LABELS:
        ticks = np.arange(num_classes)
        axes.set_xticks(ticks)
        axes.set_yticks(ticks)
        axes.set_xticklabels(class_names, rotation=45, ha='right')
        axes.set_yticklabels(class_names)

    if num_classes <= MAX_CLASSES_WITH_CELL_TEXT:
        threshold = matrix.max() / 2 if matrix.size else 0
        for row in range(num_classes):
            for col in range(num_classes):
                value = matrix[row, col]
                text = f'{value:d}' if is_count else f'{value:.2f}'
                axes.text(col, row, text, ha='center', va='center',
                          fontsize=8,
                          color='white' if value > threshold else 'black')

    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


def write_matrix_csv(matrix: np.ndarray, class_names: Sequence[str],
                     path: str) -> None:
    """Write ``matrix`` with a header row and column of class names."""
    with open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(['ground_truth \\ predicted', *class_names])
        for name, row in zip(class_names, matrix):
            writer.writerow([name, *row.tolist()])


def current_log_dir() -> Optional[str]:
    """Return the log folder of the running mmengine Runner, if any.

    A Runner logs to ``<work_dir>/<timestamp>/<timestamp>.log``, so the folder
    of the current logger's file is that run's folder inside the work dir.
    """
    log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
    return osp.dirname(log_file) if log_file else None


@METRICS.register_module()
class ConfusionMatrix(BaseMetric):
    """Confusion matrix of the top-1 predictions, saved as PNG and CSV files.

    Rows are ground-truth classes and columns are predicted classes. The
    top-1 prediction is the ``argmax`` of ``pred_score``, so ties go to the
    lowest class index, as in :class:`AccuracyMetric`. Class names come from the
    dataset's ``metainfo['classes']``, or are the class indices when the
    dataset has none.

    The metric returns no scalar values: :meth:`compute_metrics` returns an
    empty dict, so nothing from it is logged as a score or chosen as the best
    checkpoint's key. The matrix itself is kept in :attr:`matrix` (counts)
    after each evaluation and written to ``<out_dir>/<filename>.png`` and
    ``.csv``. Results are gathered on rank 0 by mmengine's
    :meth:`BaseMetric.evaluate` (all samples, padding dropped), and only
    rank 0 writes the files.

    Args:
        num_classes: Number of classes; by default the length of
            ``pred_score`` of the first sample.
        normalize: None to plot counts, or ``'true'`` (each row sums to 1,
            so the diagonal is per-class recall), ``'pred'`` (each column
            sums to 1, precision) or ``'all'``. The CSV always has counts.
        out_dir: Folder of the files. By default the running Runner's log
            folder, ``<work_dir>/<timestamp>``; without a Runner and without
            ``out_dir`` the files are skipped with a warning.
        filename: Base name of the files, without extension.
        collect_device: Device used to gather results across ranks.
        prefix: Prefix of metric names; unused in the output because no
            value is returned, kept for mmengine's interface.
        collect_dir: Folder shared by all ranks for gathering on the CPU.
    """

    default_prefix: Optional[str] = 'confusion_matrix'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 normalize: Optional[str] = 'true',
                 out_dir: Optional[str] = None,
                 filename: str = 'confusion_matrix',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        if num_classes is not None and (not isinstance(num_classes, int)
                                        or num_classes < 1):
            raise ValueError(f'expected num_classes to be a positive int or '
                             f'None, got {num_classes!r}')
        if normalize is not None and normalize not in NORMALIZE_MODES:
            raise ValueError(f'expected normalize to be one of '
                             f'{NORMALIZE_MODES} or None, got {normalize!r}')
        if not filename or osp.basename(filename) != filename:
            raise ValueError(f'expected a file name without folders for '
                             f'filename, got {filename!r}; set the folder '
                             'with out_dir')
        self.num_classes = num_classes
        self.normalize = normalize
        self.out_dir = out_dir
        self.filename = filename
        self.matrix: Optional[np.ndarray] = None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Store the top-1 prediction, label and class count of each sample."""
        for sample in data_samples:
            scores = class_scores(sample)
            self.results.append(
                (int(scores.argmax()), gt_class_index(sample),
                 scores.shape[0]))

    def compute_metrics(self, results: List[Tuple[int, int, int]]
                        ) -> Dict[str, float]:
        """Build the matrix, save it on rank 0 and return an empty dict."""
        if not results:
            raise ValueError('expected predictions for at least one sample, '
                             'got none; the evaluation dataset is empty')
        num_classes = self.num_classes or results[0][2]
        preds = np.array([pred for pred, _, _ in results], dtype=np.int64)
        labels = np.array([label for _, label, _ in results], dtype=np.int64)
        self.matrix = confusion_matrix(preds, labels, num_classes)

        if is_main_process():
            self._save(self.matrix, self._class_names(num_classes))
        return {}

    def _class_names(self, num_classes: int) -> List[str]:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is None:
            return [str(i) for i in range(num_classes)]
        if len(classes) != num_classes:
            raise ValueError(
                f"expected {num_classes} names in the dataset's "
                f"metainfo['classes'], got {len(classes)}; the label map and "
                "the head's num_classes disagree")
        return [str(name) for name in classes]

    def _save(self, matrix: np.ndarray, class_names: List[str]) -> None:
        out_dir = self.out_dir or current_log_dir()
        if out_dir is None:
            print_log(
                'ConfusionMatrix has no folder to write to; pass out_dir to '
                'save the matrix as PNG and CSV', logger='current',
                level=logging.WARNING)
            return
        os.makedirs(out_dir, exist_ok=True)
        base = osp.join(out_dir, self.filename)

        title = 'Confusion matrix'
        if self.normalize is not None:
            title += f" (normalized over '{self.normalize}')"
        plot_confusion_matrix(
            normalize_matrix(matrix, self.normalize), class_names,
            base + '.png', title=title)
        write_matrix_csv(matrix, class_names, base + '.csv')
        print_log(f'saved the confusion matrix to {base}.png and .csv',
                  logger='current', level=logging.INFO)
