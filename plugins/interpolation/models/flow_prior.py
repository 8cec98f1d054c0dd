"""Intermediate flows from a classical optical flow between the input frames.

Super SloMo (Jiang et al., CVPR 2018) and DAIN (Bao et al., CVPR 2019)
start from the flows F_0->1 and F_1->0 of a flow estimator trained
elsewhere. :class:`ClassicalFlowPrior` gives a RIFE-style network such a
start without weights to download: OpenCV's DIS (or Farneback) flow
between the two input frames, turned into the intermediate flows F_t->0
and F_t->1 by the linear-motion approximation of Super SloMo::

    F_t->0 = -(1 - t) t F_0->1 + t^2 F_1->0
    F_t->1 = (1 - t)^2 F_0->1 - t (1 - t) F_1->0

The estimate runs on the CPU, one frame pair after the other, and is not
differentiable, so the network learns corrections on top of it.
"""
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

from vidft.data.optical_flow import make_flow_function, normalize_flow_settings


def _grey_uint8(frame: Tensor) -> np.ndarray:
    """Convert an RGB frame (3, H, W) in [0, 1] to a grey uint8 array (H, W)."""
    rgb = (frame.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)
    rgb = np.ascontiguousarray(rgb.permute(1, 2, 0).cpu().numpy())
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def intermediate_flows(flow_01: Tensor, flow_10: Tensor, timestep: Tensor) -> Tensor:
    """Approximate F_t->0 and F_t->1 by linear motion.

    Args:
        flow_01: F_0->1 (N, 2, H, W): frame 0 at x matches frame 1 at
            x + F_0->1(x).
        flow_10: F_1->0 (N, 2, H, W).
        timestep: t (N,).

    Returns:
        (N, 4, H, W): F_t->0 then F_t->1, the flows that warp each input
        frame backward onto the instant t.
    """
    t = timestep.to(flow_01.dtype).view(-1, 1, 1, 1)
    to_first = -(1 - t) * t * flow_01 + t * t * flow_10
    to_last = (1 - t) * (1 - t) * flow_01 - t * (1 - t) * flow_10
    return torch.cat((to_first, to_last), dim=1)


class ClassicalFlowPrior:
    """Estimator of F_t->0 and F_t->1 from OpenCV flow between the inputs.

    Args:
        flow: Settings of :func:`vidft.data.optical_flow.make_flow_function`:
            ``dict(method='dis', preset='medium')`` (the default), another
            DIS preset, or ``dict(method='farneback', ...)``.
    """

    def __init__(self, flow: Optional[Dict[str, Any]] = None) -> None:
        self.settings = normalize_flow_settings(flow)
        self._estimate = None

    def __getstate__(self) -> Dict[str, Any]:
        # OpenCV's flow objects do not pickle, which deepcopy of the model and
        # spawned workers need. Each copy makes its own.
        return {**self.__dict__, '_estimate': None}

    def bidirectional(self, frame0: Tensor, frame1: Tensor) -> Tuple[Tensor, Tensor]:
        """Return F_0->1 and F_1->0, float32 (N, 2, H, W) on the frames' device."""
        if self._estimate is None:
            self._estimate = make_flow_function(self.settings)
        forward, backward = [], []
        for first, second in zip(frame0, frame1):
            grey0, grey1 = _grey_uint8(first), _grey_uint8(second)
            forward.append(self._estimate(grey0, grey1))
            backward.append(self._estimate(grey1, grey0))

        def to_tensor(flows):
            stacked = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2)
            return stacked.to(device=frame0.device, dtype=torch.float32)

        return to_tensor(forward), to_tensor(backward)

    def __call__(self, frame0: Tensor, frame1: Tensor, timestep: Tensor) -> Tensor:
        """Return the intermediate flows (N, 4, H, W) for frames (N, 3, H, W) in [0, 1]."""
        with torch.no_grad():
            flow_01, flow_10 = self.bidirectional(frame0, frame1)
            return intermediate_flows(flow_01, flow_10, timestep.float())

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.settings})'
