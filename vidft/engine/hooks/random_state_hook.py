"""Save the random number generator states in checkpoints and restore them
on resume."""
import random
from typing import Any, Dict, Optional

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from vidft.registry import HOOKS

CHECKPOINT_KEY = 'rng_states'


def capture_rng_states() -> Dict[str, Any]:
    """Return the states of Python's, numpy's and torch's global generators
    in types that ``torch.load(weights_only=True)`` accepts."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    states: Dict[str, Any] = {
        'python': random.getstate(),
        'numpy': {
            'kind': kind,
            'keys': torch.from_numpy(keys.astype(np.int64)),
            'position': int(position),
            'has_gauss': int(has_gauss),
            'cached_gaussian': float(cached_gaussian),
        },
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: Dict[str, Any]) -> None:
    """Set the global generators to states from :func:`capture_rng_states`."""
    version, internal, gauss_next = states['python']
    random.setstate((version, tuple(internal), gauss_next))
    saved = states['numpy']
    np.random.set_state(
        (saved['kind'], saved['keys'].numpy().astype(np.uint32),
         saved['position'], saved['has_gauss'], saved['cached_gaussian']))
    torch.set_rng_state(states['torch'])
    cuda_states = states.get('cuda')
    if cuda_states is not None and torch.cuda.is_available():
        if len(cuda_states) != torch.cuda.device_count():
            raise ValueError(
                f'expected CUDA generator states for {len(cuda_states)} '
                f'devices, got {torch.cuda.device_count()} visible devices')
        torch.cuda.set_rng_state_all(cuda_states)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Store the generator states of rank 0 in every checkpoint and restore
    them when training resumes, so dropout, random augmentation in the main
    process and other draws continue where they stopped.

    The states are restored at the start of the first epoch after resuming
    (epoch-based loops, whose checkpoints are taken at epoch ends) or at the
    first iteration (iteration-based loops, after mmengine has skipped the
    batches already trained).

    NOTE: the states of data-loader worker processes are not saved; workers
    are re-seeded from the run's seed. With ``num_workers=0``, random
    transforms that run while an iteration-based loop skips batches, or that
    build the first batch after resuming, draw from the generators before
    the restore, so that batch can differ from an uninterrupted run.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._pending: Optional[Dict[str, Any]] = None

    def before_save_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        checkpoint[CHECKPOINT_KEY] = capture_rng_states()

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        if not getattr(runner, 'is_resuming', False):
            return  # load_from: fine-tuning starts a new random stream
        states = checkpoint.get(CHECKPOINT_KEY)
        if states is None:
            runner.logger.warning(
                'the checkpoint has no random generator states (it was not '
                'written by vidft); training continues with freshly seeded '
                'generators')
            return
        randomness = runner.cfg.get('randomness') or {}
        if runner.world_size > 1 and randomness.get('diff_rank_seed'):
            runner.logger.warning(
                'randomness.diff_rank_seed=True: the checkpoint contains the '
                'generator states of rank 0 only, so they are not restored '
                'and every rank continues from its own seed')
            return
        self._pending = states

    def before_train_epoch(self, runner: Any) -> None:
        if not isinstance(runner.train_loop, IterBasedTrainLoop):
            self._restore(runner)

    def before_train_iter(self, runner: Any, batch_idx: int,
                          data_batch: Any = None) -> None:
        self._restore(runner)

    def _restore(self, runner: Any) -> None:
        if self._pending is None:
            return
        restore_rng_states(self._pending)
        self._pending = None
        runner.logger.info('restored the random generator states saved at '
                           f'iteration {runner.iter}')
