"""The camera-motion demo: source videos, window trajectories, dataset."""
from .dataset import DEFAULT_CACHE_DIR, CameraMotionDemoDataset

__all__ = ['DEFAULT_CACHE_DIR', 'CameraMotionDemoDataset']
