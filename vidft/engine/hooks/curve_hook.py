"""Plot the training loss and validation metric curves to a PNG file."""
import io
import math
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from vidft.registry import HOOKS

from ..checkpoint import atomic_write

CHECKPOINT_KEY = 'training_curves'

# Points of the loss curve when the averaging window is chosen automatically.
DEFAULT_LOSS_POINTS = 1000

# Curves with fewer points than this are drawn with a marker at each point.
MARKER_BELOW_POINTS = 50

Curve = List[Tuple[int, float]]


def _as_float(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return None
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def render_curves(loss: Curve, metrics: Mapping[str, Curve]) -> bytes:
    """Draw the loss curve and, when there are any, the metric curves; return
    the PNG bytes. Uses matplotlib's Agg canvas and leaves pyplot alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = 2 if metrics else 1
    figure = Figure(figsize=(6.4 * panels, 4.2), dpi=100)
    FigureCanvasAgg(figure)

    loss_axes = figure.add_subplot(1, panels, 1)
    if loss:
        steps, values = zip(*loss)
        marker = 'o' if len(loss) < MARKER_BELOW_POINTS else None
        loss_axes.plot(steps, values, linewidth=1.2, marker=marker,
                       markersize=3)
    loss_axes.set_title('training loss')
    loss_axes.set_xlabel('iteration')
    loss_axes.set_ylabel('loss')
    loss_axes.grid(alpha=0.3)

    if metrics:
        metric_axes = figure.add_subplot(1, panels, 2)
        for name, curve in sorted(metrics.items()):
            steps, values = zip(*curve)
            metric_axes.plot(steps, values, marker='o', markersize=3,
                             label=name)
        metric_axes.set_title('validation')
        metric_axes.set_xlabel('iteration')
        metric_axes.legend(fontsize='small')
        metric_axes.grid(alpha=0.3)

    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png')
    return buffer.getvalue()


@HOOKS.register_module()
class TrainingCurveHook(Hook):
    """Write a PNG of the training loss and the validation metrics against
    the iteration when training ends (rank 0 only).

    The loss of rank 0 is averaged over windows of ``interval`` iterations;
    every scalar validation metric becomes one line. Both curves are saved in
    checkpoints, so a resumed run plots its whole history.

    Args:
        interval: iterations per point of the loss curve; None averages
            ``max_iters // 1000`` iterations (at least 1) per point.
        filename: PNG file name inside the work dir.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self, interval: Optional[int] = None,
                 filename: str = 'training_curves.png') -> None:
        if interval is not None and (not isinstance(interval, int)
                                     or interval < 1):
            raise ValueError(f'expected interval >= 1 or None, got '
                             f'{interval!r}')
        if osp.basename(filename) != filename or \
                not filename.endswith('.png'):
            raise ValueError('expected a PNG file name without folders, got '
                             f'{filename!r}')
        self.interval = interval
        self.filename = filename
        self.loss: Curve = []
        self.metrics: Dict[str, Curve] = {}
        self._window: List[float] = []
        self._training = False

    def before_train(self, runner: Any) -> None:
        self._training = True
        if self.interval is None:
            self.interval = max(1, runner.max_iters // DEFAULT_LOSS_POINTS)

    def after_train_iter(self, runner: Any, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[Mapping[str, Any]] = None) -> None:
        value = _as_float((outputs or {}).get('loss'))
        if value is not None and math.isfinite(value):
            self._window.append(value)
        if (runner.iter + 1) % self.interval == 0:
            self._close_window(runner.iter + 1)

    def _close_window(self, iteration: int) -> None:
        if self._window:
            self.loss.append((iteration, sum(self._window) / len(self._window)))
            self._window = []

    def after_val_epoch(self, runner: Any,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        # Outside training, runner.iter would build the train loop and its
        # dataset, and the point would belong to no curve.
        if not self._training:
            return
        for name, raw in (metrics or {}).items():
            value = _as_float(raw)
            if value is not None:
                self.metrics.setdefault(name, []).append((runner.iter, value))

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            'loss': [list(point) for point in self.loss],
            'metrics': {name: [list(point) for point in curve]
                        for name, curve in self.metrics.items()},
        }

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY)
        if saved is None or not getattr(runner, 'is_resuming', False):
            return
        self.loss = [(int(step), float(value)) for step, value in saved['loss']]
        self.metrics = {
            name: [(int(step), float(value)) for step, value in curve]
            for name, curve in saved['metrics'].items()}

    def after_train(self, runner: Any) -> None:
        self._training = False
        self._close_window(runner.iter)
        if not is_main_process():
            return
        path = osp.join(runner.work_dir, self.filename)
        png = render_curves(self.loss, self.metrics)
        atomic_write(path, lambda file: file.write(png))
        runner.logger.info(f'Training curves written to {path}')
