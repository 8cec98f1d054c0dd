"""Data transforms with mmaction2's names and sample-dict keys. Importing
this package registers them in :data:`vidft.registry.TRANSFORMS`."""
from .base import LabelMapError, VideoTransform
from .formatting import FormatShape, PackVideoInputs
from .geometric import (CenterCrop, Flip, RandomResizedCrop, Resize,
                        TenCrop, ThreeCrop)
from .loading import RawFrameDecode, VideoDecode, VideoInit
from .photometric import ColorJitter, Normalize
from .sampling import SampleFrames
from .temporal import ReverseFrameOrder

__all__ = [
    'CenterCrop', 'ColorJitter', 'Flip', 'FormatShape', 'LabelMapError',
    'Normalize', 'PackVideoInputs', 'RandomResizedCrop', 'RawFrameDecode',
    'Resize', 'ReverseFrameOrder', 'SampleFrames', 'TenCrop', 'ThreeCrop',
    'VideoDecode', 'VideoInit', 'VideoTransform'
]
