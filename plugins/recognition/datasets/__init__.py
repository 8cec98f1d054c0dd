"""Datasets of the recognition plugin. Importing this package registers
``recognition.VideoDataset``, ``recognition.RawframeDataset`` and
``recognition.CameraMotionDemoDataset``."""
from .camera_motion import CameraMotionDemoDataset
from .video_dataset import RawframeDataset, VideoDataset

__all__ = ['CameraMotionDemoDataset', 'RawframeDataset', 'VideoDataset']
