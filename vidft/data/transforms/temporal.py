"""Transforms of the frame order."""
from typing import Any, Dict, Mapping, Optional

import numpy as np

from ...registry import TRANSFORMS
from .base import VideoTransform, check_label_map, get_frames, map_label


@TRANSFORMS.register_module()
class ReverseFrameOrder(VideoTransform):
    """Play every clip of a sample backwards, with probability ``prob``.

    Each of the ``num_clips`` clips of ``clip_len`` frames (the keys that
    :class:`~.sampling.SampleFrames` adds) is reversed on its own, so the
    clips keep their order. Put it after the decode step.

    Args:
        prob: Probability of reversing.
        label_map: The class a reversed sample becomes, for classes whose
            meaning the reversal changes, by index (``{3: 4, 4: 3}`` when
            classes 3 and 4 are "zoom in" and "zoom out") or by class name,
            as in :class:`~.geometric.Flip`. Other labels stay.

    Adds ``reversed`` (whether it reversed the frames).
    """

    def __init__(self, prob: float = 0.5,
                 label_map: Optional[Mapping[Any, Any]] = None) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'expected prob in [0, 1], got {prob!r}')
        self.prob = prob
        self.label_map = check_label_map(label_map, 'label_map')

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'ReverseFrameOrder')
        reverse = bool(np.random.rand() < self.prob)
        if reverse:
            clip_len = int(results.get('clip_len', len(frames)))
            if clip_len < 1 or len(frames) % clip_len:
                raise ValueError(
                    f'ReverseFrameOrder expected a whole number of clips of '
                    f'clip_len={clip_len} frames, got {len(frames)} frames; '
                    'put it before transforms that add crops (ThreeCrop, '
                    'TenCrop)')
            clips = frames.reshape(-1, clip_len, *frames.shape[1:])
            frames = np.ascontiguousarray(clips[:, ::-1]).reshape(
                frames.shape)
            map_label(results, self.label_map)
        results['imgs'] = frames
        results['reversed'] = reverse
        return results
