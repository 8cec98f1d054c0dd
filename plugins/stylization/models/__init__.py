"""Models of the stylization plugin."""
from .stylizer import StylizationDataPreprocessor, VideoStylizer
from .transformer_net import TransformerNet

__all__ = ['StylizationDataPreprocessor', 'TransformerNet', 'VideoStylizer']
