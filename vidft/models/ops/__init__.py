"""Tensor operations shared by the task plugins (optical-flow warping)."""
from .flow_warp import flow_warp

__all__ = ['flow_warp']
