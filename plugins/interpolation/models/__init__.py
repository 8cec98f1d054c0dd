"""Interpolation models, baselines and the data preprocessor."""
from .base import BaseInterpolator
from .baselines import FrameAveraging, NearestFrame
from .data_preprocessor import InterpolationDataPreprocessor
from .ifnet import IFBlock, IntermediateFlowNet
from .padding import crop_to, pad_to_multiple
from .rife import RIFE, RefineUNet, fuse

__all__ = [
    'BaseInterpolator', 'FrameAveraging', 'NearestFrame',
    'InterpolationDataPreprocessor', 'IFBlock', 'IntermediateFlowNet',
    'crop_to', 'pad_to_multiple', 'RIFE', 'RefineUNet', 'fuse'
]
