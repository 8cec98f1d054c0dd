"""Decoded frames kept in memory between samples.

Decoding dominates a training step of a small model on HR video. A 5-frame
720p clip takes longer to decode than a small VSR or interpolation network
takes to train on a crop of it, and random crops come back to the same
frames every epoch. :class:`DecodedFrameCache` keeps decoded frames up to a
memory budget, least recently used dropped first.
"""
import math
from collections import OrderedDict
from typing import Dict, Hashable, List, Sequence, Tuple

import numpy as np

from .base import file_key
from .open import open_video


class DecodedFrameCache:
    """Read frames of video files through an LRU cache of decoded frames.

    Each object has its own cache, so each data loader worker that builds
    its own pipeline keeps its own copy. Frames are keyed by the
    file's :func:`~vidft.data.video.base.file_key`, so a rewritten file is
    decoded again.

    Args:
        max_mb: Memory budget in MiB; 0 decodes every request.
        backend: Backend of :func:`~vidft.data.video.open_video`.
    """

    def __init__(self, max_mb: float, backend: str = 'pyav') -> None:
        if isinstance(max_mb, bool) or not isinstance(max_mb, (int, float)) \
                or not math.isfinite(max_mb) or max_mb < 0:
            raise ValueError(f'expected a frame cache budget in MiB, a '
                             f'finite number >= 0, got {max_mb!r}')
        self.max_bytes = int(max_mb * 2**20)
        self.backend = backend
        self._frames: 'OrderedDict[Hashable, np.ndarray]' = OrderedDict()
        self._fps: Dict[Hashable, float] = {}
        self.cached_bytes = 0

    def __len__(self) -> int:
        return len(self._frames)

    def _decode(self, path: str,
                indices: List[int]) -> Tuple[np.ndarray, float]:
        with open_video(path, backend=self.backend) as reader:
            return reader.get(indices), reader.fps

    def _store(self, key: Hashable, frame: np.ndarray) -> None:
        if frame.nbytes > self.max_bytes:
            return
        self._frames[key] = frame
        self.cached_bytes += frame.nbytes
        while self.cached_bytes > self.max_bytes:
            _, dropped = self._frames.popitem(last=False)
            self.cached_bytes -= dropped.nbytes

    def read(self, path: str,
             indices: Sequence[int]) -> Tuple[np.ndarray, float]:
        """Return frames ``indices`` of ``path`` as ``(T, H, W, 3)`` RGB
        uint8, in the requested order, and the video's frame rate.

        The frames are copies: a caller may write into them.
        """
        indices = [int(index) for index in indices]
        if not indices:
            raise ValueError(f'expected at least one frame index for {path}')
        if not self.max_bytes:
            return self._decode(path, indices)
        video = file_key(path)
        found = {}
        for index in set(indices):
            frame = self._frames.get((video, index))
            if frame is not None:
                self._frames.move_to_end((video, index))
                found[index] = frame
        missing = sorted(set(indices) - set(found))
        if missing:
            decoded, self._fps[video] = self._decode(path, missing)
            for index, frame in zip(missing, decoded):
                # A copy, so a cached frame does not keep the whole decoded
                # batch it is a view of in memory.
                frame = frame.copy()
                found[index] = frame
                self._store((video, index), frame)
        # np.stack copies, so the cached frames stay as decoded.
        return np.stack([found[index] for index in indices]), self._fps[video]
