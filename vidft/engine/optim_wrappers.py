"""Optimizer wrappers: mixed precision on CPU and GPU, and the guard that keeps
a non-finite loss from reaching the weights."""
from typing import Any, Dict, Optional, Type, Union

import torch
import torch.distributed as torch_dist
from mmengine.device import (is_cuda_available, is_mlu_available,
                             is_musa_available, is_npu_available)
from mmengine.logging import MMLogger
from mmengine.optim import AmpOptimWrapper as MMEngineAmpOptimWrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict

from vidft.registry import OPTIM_WRAPPERS


def _accelerator_available() -> bool:
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module(name='AmpOptimWrapper')
class AmpOptimWrapper(MMEngineAmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` that also runs on CPU.

    On a GPU (or another accelerator mmengine supports) it is mmengine's
    wrapper unchanged. mmengine 0.10.7 refuses to build that wrapper without
    an accelerator; on CPU this class autocasts to bfloat16 instead. bfloat16
    has float32's exponent range, so on CPU the loss is not scaled and
    ``loss_scale`` has no effect.

    Registered in vidft's scope as ``'AmpOptimWrapper'``, so configs written
    for mmengine pick it up once ``default_scope`` is vidft or a plugin.
    """

    def __init__(self, loss_scale: Union[str, float, Dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 use_fsdp: bool = False, **kwargs: Any) -> None:
        if _accelerator_available():
            super().__init__(loss_scale=loss_scale, dtype=dtype,
                             use_fsdp=use_fsdp, **kwargs)
            return

        if dtype not in (None, 'bfloat16', torch.bfloat16):
            raise ValueError(
                'expected dtype None or bfloat16 for mixed precision on CPU, '
                f'got {dtype!r}; float16 autocast needs a GPU')
        if use_fsdp:
            raise ValueError('expected use_fsdp=False on CPU, got True; '
                             'FSDP mixed precision needs a GPU')
        OptimWrapper.__init__(self, **kwargs)
        self._scale_update_param = None
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)
        self.cast_dtype = torch.bfloat16
        if loss_scale != 'dynamic':
            MMLogger.get_current_instance().info(
                f'loss_scale={loss_scale!r} is not used on CPU: bfloat16 '
                'autocast needs no loss scaling')


def _finite_on_all_ranks(loss: torch.Tensor) -> bool:
    finite = torch.isfinite(loss.detach()).all().to(torch.int32)
    if torch_dist.is_available() and torch_dist.is_initialized() and \
            torch_dist.get_world_size() > 1:
        # Every rank must take the same branch: a rank that runs backward
        # while another does not would wait forever in DDP's all-reduce.
        torch_dist.all_reduce(finite, op=torch_dist.ReduceOp.MIN)
    return bool(finite.item())


def _has_gradients(optimizer: torch.optim.Optimizer) -> bool:
    return any(param.grad is not None for group in optimizer.param_groups
               for param in group['params'])


class NonFiniteLossGuard:
    """Mixin for an :class:`~mmengine.optim.OptimWrapper` that skips backward
    and the update for a loss that is NaN or infinite on any rank.

    ``nonfinite_loss`` is True when the last :meth:`update_params` met such a
    loss. :class:`vidft.engine.hooks.NonFiniteLossHook` reads it to raise or
    to count the skipped step. The skipped iteration still counts towards
    gradient accumulation: at the end of an accumulation window the optimizer
    steps with the gradients of the finite iterations, if there are any.
    """

    nonfinite_loss: bool = False

    def update_params(self, loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        self.nonfinite_loss = not _finite_on_all_ranks(loss)
        if not self.nonfinite_loss:
            super().update_params(  # type: ignore[misc]
                loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs)
            return

        self._inner_count += 1  # type: ignore[attr-defined]
        if self.should_update():  # type: ignore[attr-defined]
            if _has_gradients(self.optimizer):  # type: ignore[attr-defined]
                self.step(**(step_kwargs or {}))  # type: ignore[attr-defined]
            self.zero_grad(**(zero_kwargs or {}))  # type: ignore[attr-defined]


_guarded_classes: Dict[Type, Type] = {}


def _guarded_class(cls: Type) -> Type:
    if cls not in _guarded_classes:
        _guarded_classes[cls] = type(
            f'NonFiniteGuarded{cls.__name__}', (NonFiniteLossGuard, cls),
            {'__module__': __name__, '__doc__': cls.__doc__})
    return _guarded_classes[cls]


def install_nonfinite_guard(
        optim_wrapper: Union[OptimWrapper, OptimWrapperDict]) -> None:
    """Give ``optim_wrapper`` (or each wrapper of an ``OptimWrapperDict``)
    the behaviour of :class:`NonFiniteLossGuard`, in place.

    The object keeps its class as a base, so ``isinstance`` checks and its
    state are unchanged.
    """
    if isinstance(optim_wrapper, OptimWrapperDict):
        for wrapper in optim_wrapper.values():
            install_nonfinite_guard(wrapper)
        return
    if not isinstance(optim_wrapper, OptimWrapper):
        raise TypeError('expected an OptimWrapper or OptimWrapperDict, got '
                        f'{type(optim_wrapper).__name__}')
    if not isinstance(optim_wrapper, NonFiniteLossGuard):
        optim_wrapper.__class__ = _guarded_class(type(optim_wrapper))


def last_loss_nonfinite(
        optim_wrapper: Union[OptimWrapper, OptimWrapperDict]) -> bool:
    """Check whether the last update of any guarded wrapper met a non-finite
    loss."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        return any(last_loss_nonfinite(w) for w in optim_wrapper.values())
    return bool(getattr(optim_wrapper, 'nonfinite_loss', False))
