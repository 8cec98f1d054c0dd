"""Charbonnier loss, the differentiable L1 variant used to train VSR models."""
from typing import Optional

import torch
from torch import Tensor, nn

from vidft.registry import LOSSES

_REDUCTIONS = ('mean', 'sum', 'none')


@LOSSES.register_module()
class CharbonnierLoss(nn.Module):
    """Charbonnier loss ``sqrt((pred - target)^2 + eps^2)``.

    It behaves like L1 away from zero and stays smooth at zero. BasicVSR
    (Chan et al., CVPR 2021) trains with it; its ``eps = 1e-6`` equals the
    ``eps = 1e-12`` of mmagic and BasicSR, which add ``eps`` without squaring.

    Args:
        loss_weight: Factor applied to the reduced loss.
        eps: Smoothing constant, in the units of the inputs.
        reduction: ``'mean'`` over all elements, ``'sum'`` or ``'none'``.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-6,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'expected reduction in {_REDUCTIONS}, got '
                             f'{reduction!r}')
        if eps <= 0:
            raise ValueError(f'expected eps > 0, got {eps}')
        self.loss_weight = loss_weight
        self.eps = eps
        self.reduction = reduction

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None) -> Tensor:
        """Compute the loss; ``weight`` (broadcast to ``pred``) scales each
        element before the reduction."""
        if pred.shape != target.shape:
            raise ValueError(f'expected pred and target of one shape, got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        loss = torch.sqrt((pred - target)**2 + self.eps**2)
        if weight is not None:
            loss = loss * weight
        if self.reduction == 'mean':
            loss = loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return self.loss_weight * loss
