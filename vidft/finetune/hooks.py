"""Training hooks of the fine-tuning toolkit."""
from typing import Dict, List, Optional, Sequence, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..registry import HOOKS
from .freezing import select_parameters

# Key that marks the param group UnfreezeHook adds, in the optimizer and in
# its saved state; a resumed run uses it to rebuild the group.
GROUP_MARKER = 'vidft_unfreeze_hook'

DATA_BATCH = Optional[Union[dict, tuple, list]]


@HOOKS.register_module()
class UnfreezeHook(Hook):
    """Keeps modules frozen for N epochs or iterations, then trains them.

    At ``before_run`` the parameters of the modules that ``patterns`` match
    (fnmatch patterns on full dotted names, as in
    :func:`vidft.finetune.freeze`) get ``requires_grad=False`` and leave the
    optimizer. Once ``unfreeze_at`` epochs (``by_epoch=True``) or
    iterations have finished, they get ``requires_grad=True`` and join the
    optimizer as a new param group. Its ``initial_lr`` is the optimizer's
    base lr times ``lr_mult``, its current lr follows the progress of the
    first param group's schedule, and every mmengine param scheduler of the
    optimizer gets the new group's base value, so schedules continue over
    it. Its weight decay is the base weight decay times ``decay_mult``.

    A resumed run that saved the optimizer after unfreezing rebuilds the new
    group when the checkpoint is loaded, so the optimizer state fits.

    With DistributedDataParallel, the matched parameters must still require
    gradients when DDP wraps the model, because DDP only synchronises the
    parameters that require gradients at that time. The wrapper also needs
    ``find_unused_parameters=True``, because frozen parameters get no
    gradient. Set ``model_wrapper_cfg=dict(type='MMDistributedDataParallel',
    find_unused_parameters=True)``.

    Args:
        patterns: fnmatch patterns of the module or parameter names to keep
            frozen at first.
        unfreeze_at: Number of epochs (or iterations) to keep them frozen.
        by_epoch: Count ``unfreeze_at`` in epochs, else in iterations.
        lr_mult: Factor on the optimizer's base lr for the new param group.
        decay_mult: Factor on the optimizer's base weight decay for it.
    """

    priority = 'NORMAL'

    def __init__(self, patterns: Sequence[str], unfreeze_at: int,
                 by_epoch: bool = True, lr_mult: float = 1.0,
                 decay_mult: float = 1.0) -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise ValueError(f'expected a non-empty list of module name '
                             f'patterns, got {patterns!r}')
        if isinstance(unfreeze_at, bool) or not isinstance(unfreeze_at, int) \
                or unfreeze_at < 1:
            raise ValueError(f'expected unfreeze_at to be an int >= 1, got '
                             f'{unfreeze_at!r}')
        if lr_mult <= 0:
            raise ValueError(f'expected lr_mult > 0, got {lr_mult}')
        if decay_mult < 0:
            raise ValueError(f'expected decay_mult >= 0, got {decay_mult}')
        self.patterns = list(patterns)
        self.unfreeze_at = unfreeze_at
        self.by_epoch = by_epoch
        self.lr_mult = float(lr_mult)
        self.decay_mult = float(decay_mult)
        self._params: Optional[Dict[str, nn.Parameter]] = None
        self._group_added = False
        self.unfrozen = False

    @property
    def _unit(self) -> str:
        return 'epoch' if self.by_epoch else 'iteration'

    def before_run(self, runner) -> None:
        # runner.val() and runner.test() call before_run too: without an
        # optimizer, or after training when the hook has already run.
        if not isinstance(runner.optim_wrapper, OptimWrapper) or \
                self._params is not None:
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        self._params = select_parameters(model, self.patterns)
        self._check_wrapper(runner.model)

        optimizer = self._optim_wrapper(runner).optimizer
        ids = {id(p) for p in self._params.values()}
        for group in optimizer.param_groups:
            # Empty groups stay, so the param schedulers' lists still line up.
            group['params'] = [p for p in group['params'] if id(p) not in ids]
        for param in self._params.values():
            param.requires_grad_(False)
            optimizer.state.pop(param, None)

        elements = sum(p.numel() for p in self._params.values())
        runner.logger.info(
            f'UnfreezeHook: froze {len(self._params)} tensors '
            f'({elements:,} elements) matching {self.patterns}; they train '
            f'from {self._unit} {self.unfreeze_at} with lr_mult='
            f'{self.lr_mult:g}')
        self._warn_if_never(runner)

    def _warn_if_never(self, runner) -> None:
        length = getattr(runner, 'max_epochs' if self.by_epoch else
                         'max_iters', None)
        if isinstance(length, int) and self.unfreeze_at >= length:
            runner.logger.warning(
                f'UnfreezeHook: training stops after {length} {self._unit}s, '
                f'so the modules matching {self.patterns} never unfreeze at '
                f'{self._unit} {self.unfreeze_at}. Lower unfreeze_at, or set '
                'by_epoch=False for an iteration-based loop.')

    def _check_wrapper(self, wrapper: nn.Module) -> None:
        if isinstance(wrapper, DistributedDataParallel):
            if not wrapper.find_unused_parameters or \
                    getattr(wrapper, 'static_graph', False):
                raise ValueError(
                    'UnfreezeHook changes which parameters get gradients, so '
                    'DistributedDataParallel needs find_unused_parameters='
                    'True and no static graph: set model_wrapper_cfg=dict('
                    "type='MMDistributedDataParallel', "
                    'find_unused_parameters=True)')
            frozen_early = [n for n, p in self._params.items()
                            if not p.requires_grad]
            if frozen_early:
                raise ValueError(
                    f'{len(frozen_early)} parameters matching {self.patterns} '
                    f'were already frozen when DDP wrapped the model (for '
                    f'example {frozen_early[0]!r}), so DDP would never '
                    'synchronise their gradients after UnfreezeHook unfreezes '
                    'them. Leave them trainable in the model config and let '
                    'UnfreezeHook freeze them.')
        elif is_model_wrapper(wrapper):
            raise NotImplementedError(
                'UnfreezeHook works with an unwrapped model or with '
                f'DistributedDataParallel, got {type(wrapper).__name__}')

    @staticmethod
    def _optim_wrapper(runner) -> OptimWrapper:
        optim_wrapper = runner.optim_wrapper
        if isinstance(optim_wrapper, OptimWrapperDict) or \
                not isinstance(optim_wrapper, OptimWrapper):
            raise NotImplementedError(
                'UnfreezeHook supports a single OptimWrapper, got '
                f'{type(optim_wrapper).__name__}')
        return optim_wrapper

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # A checkpoint saved after unfreezing has one more param group; add
        # it now, still frozen, so that resuming can load the state.
        saved = checkpoint.get('optimizer')
        if self._group_added or self._params is None or \
                not isinstance(saved, dict):
            return
        if any(group.get(GROUP_MARKER) for group in
               saved.get('param_groups', [])):
            self._add_param_group(runner)

    def before_train_epoch(self, runner) -> None:
        if self.by_epoch and runner.epoch >= self.unfreeze_at:
            self._unfreeze(runner)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: DATA_BATCH = None) -> None:
        if not self.by_epoch and runner.iter >= self.unfreeze_at:
            self._unfreeze(runner)

    def _unfreeze(self, runner) -> None:
        if self.unfrozen:
            return
        if self._params is None:
            raise RuntimeError('UnfreezeHook.before_run was not called, so '
                               'the hook does not know what to unfreeze')
        if not self._group_added:
            self._add_param_group(runner)
        for param in self._params.values():
            param.grad = None
            param.requires_grad_(True)
        self.unfrozen = True

        group = self._optim_wrapper(runner).optimizer.param_groups[-1]
        progress = runner.epoch if self.by_epoch else runner.iter
        elements = sum(p.numel() for p in self._params.values())
        runner.logger.info(
            f'UnfreezeHook: unfroze {len(self._params)} tensors '
            f'({elements:,} elements) matching {self.patterns} at '
            f'{self._unit} {progress}; they train in a new param group with '
            f"lr {_format(group.get('lr'))}, weight decay "
            f"{_format(group.get('weight_decay'))}")

    def _add_param_group(self, runner) -> None:
        optim_wrapper = self._optim_wrapper(runner)
        optimizer = optim_wrapper.optimizer
        defaults = optimizer.defaults
        group: dict = {'params': list(self._params.values()),
                       GROUP_MARKER: True}
        if defaults.get('lr') is not None:
            # NOTE: Runner's auto_scale_lr scales the lr of existing groups,
            # not optimizer.defaults, so this group's lr stays unscaled.
            group['initial_lr'] = defaults['lr'] * self.lr_mult
            group['lr'] = group['initial_lr'] * _schedule_progress(optimizer)
        if defaults.get('weight_decay') is not None:
            group['weight_decay'] = defaults['weight_decay'] * self.decay_mult
        optimizer.add_param_group(group)
        group = optimizer.param_groups[-1]

        # NOTE: only base_values are extended. A scheduler with other
        # per-group lists (ReduceOnPlateauParamScheduler's min_values)
        # leaves the new group out of those.
        for scheduler in _schedulers_of(runner, optim_wrapper):
            name = scheduler.param_name
            group.setdefault(f'initial_{name}', group[name])
            scheduler.base_values.append(group[f'initial_{name}'])
        self._group_added = True


def _schedule_progress(optimizer) -> float:
    """Return current lr / initial lr of the first group that has both."""
    for group in optimizer.param_groups:
        if group.get('initial_lr'):
            return group['lr'] / group['initial_lr']
    return 1.0


def _schedulers_of(runner, optim_wrapper: OptimWrapper) -> List:
    schedulers = runner.param_schedulers or []
    if isinstance(schedulers, dict):
        schedulers = [s for group in schedulers.values() for s in group]
    found = []
    for scheduler in schedulers:
        target = getattr(scheduler, 'optimizer', None)
        if (target is optim_wrapper or target is optim_wrapper.optimizer) \
                and hasattr(scheduler, 'base_values'):
            found.append(scheduler)
    return found


def _format(value: Optional[float]) -> str:
    return 'default' if value is None else f'{value:.4g}'
