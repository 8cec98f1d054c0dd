"""Video reading with OpenCV's FFmpeg backend, decoding forward only.

Seeking with ``CAP_PROP_POS_FRAMES`` is not reliable for every container:
with opencv-python 5.1.0 it was exact on the AVI, MP4 and Matroska files
tried, but returned the wrong frame for every index of raw H.264 and MPEG-4
elementary streams (.h264, .m4v). This reader therefore never seeks. It
decodes forward from frame 0, skipping frames with ``grab()`` (decode without
colour conversion) and converting only the requested ones. A later request
that starts at or after the current position continues from there, and one
that starts before it reopens the file.
Prefer the 'pyav' backend for sparse sampling: it seeks to keyframes.
"""
import logging
from typing import Dict, List

import cv2
import numpy as np

from .base import (INDEX_CACHE, MAX_DECODE_ATTEMPTS, VideoDecodeError,
                   VideoReader, file_key)

logger = logging.getLogger(__name__)


class OpenCVReader(VideoReader):
    """Video reader on ``cv2.VideoCapture`` that decodes forward only.

    ``len()`` counts the frames that ``grab()`` returns in one pass over the
    file, because the frame count that OpenCV reports comes from the
    container header. The count is cached per file (path, size and mtime).

    Frames are returned as stored: ``CAP_PROP_ORIENTATION_AUTO`` is turned
    off so that the 'pyav' and 'opencv' backends agree on frame shapes.
    """

    backend = 'opencv'

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self._closed = False
        self._capture = self._open_capture()
        self._position = 0  # index of the frame the next grab() returns
        self._num_frames = INDEX_CACHE.get_or_compute(
            (self.backend, ) + file_key(path), self._count_frames)

    def _open_capture(self) -> cv2.VideoCapture:
        capture = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not capture.isOpened():
            raise VideoDecodeError(self.path, 'OpenCV cannot open the video '
                                   '(missing file, or no decodable video '
                                   'stream)')
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        return capture

    def _count_frames(self) -> int:
        capture = self._open_capture()
        try:
            count = 0
            while capture.grab():
                count += 1
        finally:
            capture.release()
        self.num_decoded_frames += count
        if count == 0:
            raise VideoDecodeError(self.path, 'OpenCV decodes no frame')
        return count

    def __len__(self) -> int:
        return self._num_frames

    @property
    def fps(self) -> float:
        return float(self._capture.get(cv2.CAP_PROP_FPS))

    @property
    def height(self) -> int:
        return int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))

    @property
    def width(self) -> int:
        return int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))

    def close(self) -> None:
        self._closed = True
        self._capture.release()

    def _rewind(self) -> None:
        self._capture.release()
        self._capture = self._open_capture()
        self._position = 0

    def _decode(self, indices: List[int]) -> Dict[int, np.ndarray]:
        if self._closed:
            raise ValueError(f'the reader of {self.path} is closed; open the '
                             'video again to read more frames')
        last_error = ''
        for attempt in range(MAX_DECODE_ATTEMPTS):
            if attempt > 0 or self._position > indices[0]:
                self._rewind()
            try:
                return self._decode_forward(indices)
            except _GrabFailed as error:
                last_error = str(error)
                logger.debug('%s: decode attempt %d of %d failed: %s',
                             self.path, attempt + 1, MAX_DECODE_ATTEMPTS,
                             last_error)
        raise VideoDecodeError(
            self.path, f'decoding failed after {MAX_DECODE_ATTEMPTS} '
            f'attempts: {last_error}')

    def _decode_forward(self, indices: List[int]) -> Dict[int, np.ndarray]:
        frames: Dict[int, np.ndarray] = {}
        for index in indices:
            while self._position <= index:
                if not self._capture.grab():
                    raise _GrabFailed(f'grab() failed at frame '
                                      f'{self._position} of '
                                      f'{self._num_frames}')
                self.num_decoded_frames += 1
                self._position += 1
            ok, bgr = self._capture.retrieve()
            if not ok:
                raise _GrabFailed(f'retrieve() failed at frame {index}')
            frames[index] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return frames


class _GrabFailed(Exception):
    """OpenCV returned no frame where one was expected."""
