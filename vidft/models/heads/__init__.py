"""Heads shared by the task plugins."""
from .cls_head import ClsHead

__all__ = ['ClsHead']
