"""Frame samplers, which choose the frame indices that form the clips of a
sample."""
import logging
from typing import Any, Dict, Set

import numpy as np
from mmengine.logging import print_log

from ...registry import TRANSFORMS
from ..video import VideoDecodeError
from .base import VideoTransform

OUT_OF_BOUND_OPTIONS = ('loop', 'repeat_last')

#: Videos shorter than a clip that one SampleFrames logs by name, per process.
MAX_SHORT_VIDEO_WARNINGS = 10


@TRANSFORMS.register_module()
class SampleFrames(VideoTransform):
    """Sample ``num_clips`` clips of ``clip_len`` frames, ``frame_interval``
    frames apart, with the index rules of mmaction2's ``SampleFrames``.

    With ``clip_len=1`` this is TSN segment sampling: the video is split into
    ``num_clips`` equal segments and one frame is taken from each. With
    ``clip_len > 1`` it samples dense clips for 3D models.

    Clip starts (``n`` frames, ``span = clip_len * frame_interval``):

    * training: ``avg = (n - span + 1) // num_clips``. If ``avg > 0``, clip
      ``k`` starts at ``k * avg`` plus a random offset in ``[0, avg)``.
      Otherwise, if ``n > max(num_clips, span)``, the starts are
      ``num_clips`` sorted random integers in ``[0, n - span]``; otherwise,
      if ``avg == 0``, they are ``round(k * (n - span + 1) / num_clips)``;
      otherwise all clips start at 0.
    * testing, ``clip_len == 1``: the centre of each segment,
      ``floor((k + 0.5) * n / num_clips)``.
    * testing, ``clip_len > 1``: with ``max_offset = max(n - ((clip_len - 1)
      * frame_interval + 1), 0)``, one clip starts at ``max_offset // 2``;
      several clips start at ``round(k * max_offset / (num_clips - 1))``,
      evenly spaced from the first to the last possible start (multi-view
      testing).

    Indices past the end of a short video follow ``out_of_bound_opt``.
    ``'loop'`` wraps them around (``i % n``), and ``'repeat_last'`` replaces
    them by the last valid index of the same clip. For example, ``n = 5``,
    ``clip_len = 8``, ``frame_interval = 1`` and one test clip gives
    ``[0, 1, 2, 3, 4, 0, 1, 2]`` with 'loop' and ``[0, 1, 2, 3, 4, 4, 4, 4]``
    with 'repeat_last'. Each such video is logged as a WARNING, because a
    dataset of cut-short clips would otherwise train without a sign of it.
    Each process logs a video once and at most
    :data:`MAX_SHORT_VIDEO_WARNINGS` videos, so every data-loader worker
    logs its own, again each epoch when the workers are not persistent.

    Reads ``total_frames`` and ``start_index`` (default 0, added to every
    index). Adds ``frame_inds`` (``int64``, clips concatenated), ``clip_len``,
    ``frame_interval`` and ``num_clips``.
    """

    def __init__(self, clip_len: int, frame_interval: int = 1,
                 num_clips: int = 1, test_mode: bool = False,
                 out_of_bound_opt: str = 'loop') -> None:
        for name, value in (('clip_len', clip_len),
                            ('frame_interval', frame_interval),
                            ('num_clips', num_clips)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f'expected {name} to be an int >= 1, got '
                                 f'{value!r}')
        if out_of_bound_opt not in OUT_OF_BOUND_OPTIONS:
            raise ValueError(f'expected out_of_bound_opt in '
                             f'{OUT_OF_BOUND_OPTIONS}, got '
                             f'{out_of_bound_opt!r}')
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)
        self.num_clips = int(num_clips)
        self.test_mode = test_mode
        self.out_of_bound_opt = out_of_bound_opt
        self._short_videos: Set[str] = set()

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        num_frames = int(results['total_frames'])
        if num_frames < 1:
            source = results.get('filename') or results.get('frame_dir', '')
            raise VideoDecodeError(str(source), f'no frame to sample '
                                   f'(total_frames={num_frames})')

        if self.test_mode:
            starts = self._test_clip_starts(num_frames)
        else:
            starts = self._train_clip_starts(num_frames)
        steps = np.arange(self.clip_len) * self.frame_interval
        indices = starts.astype(np.int64)[:, None] + steps[None, :]
        if indices.max() >= num_frames:
            self._log_short_video(results, num_frames)
        indices = self._keep_in_bounds(indices, num_frames)

        start_index = int(results.get('start_index', 0))
        results['frame_inds'] = indices.reshape(-1) + start_index
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = self.num_clips
        return results

    def _log_short_video(self, results: Dict[str, Any],
                         num_frames: int) -> None:
        source = str(results.get('filename') or results.get('frame_dir', ''))
        if (source in self._short_videos
                or len(self._short_videos) > MAX_SHORT_VIDEO_WARNINGS):
            return
        self._short_videos.add(source)
        if len(self._short_videos) > MAX_SHORT_VIDEO_WARNINGS:
            message = (f'more than {MAX_SHORT_VIDEO_WARNINGS} videos are '
                       'shorter than a clip; the others are not logged')
        else:
            covered = (self.clip_len - 1) * self.frame_interval + 1
            message = (f'{source}: {num_frames} frames, fewer than the '
                       f'{covered} that a clip covers, so frames are '
                       f'repeated ({self.out_of_bound_opt!r}); `vidft data '
                       f'check --min-frames {covered}` lists such videos')
        print_log(message, logger='current', level=logging.WARNING)

    def _train_clip_starts(self, num_frames: int) -> np.ndarray:
        span = self.clip_len * self.frame_interval
        segment = (num_frames - span + 1) // self.num_clips
        if segment > 0:
            base = np.arange(self.num_clips) * segment
            return base + np.random.randint(segment, size=self.num_clips)
        if num_frames > max(self.num_clips, span):
            return np.sort(np.random.randint(num_frames - span + 1,
                                             size=self.num_clips))
        if segment == 0:
            ratio = (num_frames - span + 1.0) / self.num_clips
            return np.around(np.arange(self.num_clips) * ratio)
        return np.zeros(self.num_clips, dtype=np.int64)

    def _test_clip_starts(self, num_frames: int) -> np.ndarray:
        if self.clip_len == 1:
            segment = num_frames / self.num_clips
            return np.floor((np.arange(self.num_clips) + 0.5) * segment)
        covered = (self.clip_len - 1) * self.frame_interval + 1
        max_offset = max(num_frames - covered, 0)
        if self.num_clips == 1:
            return np.array([max_offset // 2])
        step = max_offset / (self.num_clips - 1)
        return np.round(np.arange(self.num_clips) * step)

    def _keep_in_bounds(self, indices: np.ndarray,
                        num_frames: int) -> np.ndarray:
        if self.out_of_bound_opt == 'loop':
            return indices % num_frames
        inside = indices < num_frames
        last_valid = np.where(inside, indices, -1).max(axis=1, keepdims=True)
        return np.where(inside, indices, last_valid)
