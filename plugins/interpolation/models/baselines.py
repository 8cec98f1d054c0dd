"""Parameter-free interpolation baselines, reported next to learned models."""
from torch import Tensor

from ..registry import MODELS
from .base import BaseInterpolator


@MODELS.register_module()
class FrameAveraging(BaseInterpolator):
    """Blend the two input frames linearly: ``(1 - t) * frame0 + t * frame1``.

    At ``t = 0.5`` this is the plain frame average of the papers' tables.
    """

    def interpolate(self, frame0: Tensor, frame1: Tensor, timestep: Tensor) -> Tensor:
        weight = timestep.to(frame0.dtype).view(-1, 1, 1, 1)
        return (1.0 - weight) * frame0 + weight * frame1


@MODELS.register_module()
class NearestFrame(BaseInterpolator):
    """Repeat the input frame nearer in time; ``t = 0.5`` repeats ``frame0``."""

    def interpolate(self, frame0: Tensor, frame1: Tensor, timestep: Tensor) -> Tensor:
        take_second = (timestep > 0.5).view(-1, 1, 1, 1)
        return frame1.where(take_second, frame0).clone()
