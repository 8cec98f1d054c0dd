"""Stop, or skip the step, when the training loss is NaN or infinite."""
from typing import Any, Mapping, Optional

import torch
from mmengine.hooks import Hook

from vidft.registry import HOOKS

from ..optim_wrappers import last_loss_nonfinite

# Skipped steps logged one by one per epoch before only the count is kept.
MAX_SKIP_WARNINGS_PER_EPOCH = 10


def format_losses(outputs: Optional[Mapping[str, Any]]) -> str:
    """Render the loss dict of a training step as ``name=value`` pairs."""
    if not outputs:
        return '(no loss values returned)'
    parts = []
    for name, value in outputs.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, float):
            parts.append(f'{name}={value:.6g}')
        else:
            parts.append(f'{name}={value}')
    return ', '.join(parts)


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise, or count a skipped step, after an iteration whose loss was NaN
    or infinite.

    Works with the guard that :class:`vidft.engine.VidftRunner` installs on
    its optimizer wrapper: the guard skips backward and the update when the
    loss is non-finite on any rank, and this hook reports it afterwards, on
    every rank alike.

    Args:
        skip_nonfinite: False (default) raises ``FloatingPointError`` naming
            the iteration and the loss values. True skips the step, logs a
            WARNING, and reports the number of skipped steps at the end of
            each epoch. The running total is kept in the message hub under
            ``'nonfinite_skips'``, so it survives a resume.
    """

    # Before EMAHook (NORMAL), LoggerHook and CheckpointHook, so that nothing
    # is logged as normal or saved after a non-finite step.
    priority = 'ABOVE_NORMAL'

    def __init__(self, skip_nonfinite: bool = False) -> None:
        if not isinstance(skip_nonfinite, bool):
            raise TypeError('expected skip_nonfinite to be True or False, '
                            f'got {skip_nonfinite!r}')
        self.skip_nonfinite = skip_nonfinite
        self._epoch_skips = 0

    def before_train_epoch(self, runner: Any) -> None:
        self._epoch_skips = 0

    def after_train_iter(self, runner: Any, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[Mapping[str, Any]] = None) -> None:
        if not last_loss_nonfinite(runner.optim_wrapper):
            return
        iteration = runner.iter + 1
        losses = format_losses(outputs)
        where = f' on rank {runner.rank}' if runner.world_size > 1 else ''

        if not self.skip_nonfinite:
            raise FloatingPointError(
                f'non-finite loss at iteration {iteration} (epoch '
                f'{runner.epoch + 1}): {losses}{where}. The weights were not '
                'updated. Lower the learning rate, enable gradient clipping '
                '(optim_wrapper.clip_grad), check the input data, or set '
                'skip_nonfinite=True to skip such steps')

        self._epoch_skips += 1
        total = runner.message_hub.get_info('nonfinite_skips', 0) + 1
        runner.message_hub.update_info('nonfinite_skips', total)
        if self._epoch_skips <= MAX_SKIP_WARNINGS_PER_EPOCH:
            runner.logger.warning(
                f'skipped the update of iteration {iteration}: non-finite '
                f'loss {losses}{where}')
        if self._epoch_skips == MAX_SKIP_WARNINGS_PER_EPOCH:
            runner.logger.warning('further skipped steps of this epoch are '
                                  'counted but not logged one by one')

    def after_train_epoch(self, runner: Any) -> None:
        if not self.skip_nonfinite:
            return
        total = runner.message_hub.get_info('nonfinite_skips', 0)
        message = (f'epoch {runner.epoch + 1}: skipped {self._epoch_skips} '
                   f'steps with a non-finite loss ({total} in this run)')
        if self._epoch_skips:
            runner.logger.warning(message)
        else:
            runner.logger.info(message)
