"""Loss functions shared by task plugins. Importing this package registers
them in :data:`vidft.registry.LOSSES`."""
from .charbonnier import CharbonnierLoss

__all__ = ['CharbonnierLoss']
