"""Image backbones shared by the task plugins.

:class:`TimmBackbone` and :class:`TorchvisionBackbone` wrap the image models
of timm and torchvision. Both return the last feature map, a tuple of maps
per stride (``out_indices``) or a dict of named intermediate features
(``feature_names``), and both provide ``layer_groups()``,
``frozen_stages`` and ``norm_eval`` for fine-tuning.
"""
from .base import ImageBackbone
from .feature_hooks import FeatureCollector
from .timm_backbone import TimmBackbone
from .torchvision_backbone import TorchvisionBackbone

__all__ = ['FeatureCollector', 'ImageBackbone', 'TimmBackbone',
           'TorchvisionBackbone']
