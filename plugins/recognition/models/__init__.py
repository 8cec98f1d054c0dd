"""Models of the recognition plugin: recognizers, TSM and 3D backbones."""
from .recognizers import BaseRecognizer, Recognizer2D, Recognizer3D
from .resnet3d import ResNet3d
from .tsm import TemporalShift, insert_temporal_shift, temporal_shift
from .video_backbones import TorchvisionVideoBackbone

__all__ = ['BaseRecognizer', 'Recognizer2D', 'Recognizer3D', 'ResNet3d',
           'TemporalShift', 'TorchvisionVideoBackbone',
           'insert_temporal_shift', 'temporal_shift']
