"""VSR models: the BasicVSR network, its SPyNet flow estimator and the
bicubic baseline, all behind one :class:`VSRModel` contract."""
from .base import VSRDataPreprocessor, VSRModel
from .basicvsr import BasicVSR
from .bicubic import BicubicVSR
from .spynet import SPyNet

__all__ = ['BasicVSR', 'BicubicVSR', 'SPyNet', 'VSRDataPreprocessor',
           'VSRModel']
