"""Write output videos with PyAV, so that a failed run leaves no partial file.

Every inferencer that writes a video uses :class:`VideoWriter`. Frames are
encoded into ``<path>.part`` beside the target. :meth:`VideoWriter.close`
finishes the file and renames it to the target; :meth:`VideoWriter.abort`,
or an exception inside a ``with`` block, deletes it. A user who stops a
long run, or whose input breaks half way, finds either the whole video or
none under the name they asked for.
"""
import os
import os.path as osp
from fractions import Fraction
from typing import Optional, Union

import numpy as np

from .base import OUTPUT_FORMATS

#: Suffix of the file a writer encodes into before it is renamed.
PARTIAL_SUFFIX = '.part'


def fps_fraction(fps: Union[float, Fraction]) -> Fraction:
    """Return ``fps`` as a fraction; NTSC rates such as 29.97 fps come back
    exactly as 30000/1001, because the denominator is capped at 1001."""
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Encode RGB uint8 frames into a video file at a fixed frame rate.

    Args:
        path: Output file; its extension picks the container
            (:data:`OUTPUT_FORMATS`).
        fps: Frame rate of the output.
        codec: A codec of this PyAV build, ``'libx264'`` by default.
        crf: libx264 quality, lower is better.
        width: Frame width; with ``height``, the stream is set up (and the
            size checked against the codec) at once. Without them, the first
            frame sets the size.
        height: Frame height.

    Frames with even sides are stored as 4:2:0 (``yuv420p``). libx264 keeps
    odd sides as 4:4:4; other codecs reject them.

    Raises:
        ValueError: an unknown extension or codec, or odd sides with a codec
            other than libx264.
    """

    def __init__(self, path: str, fps: Union[float, Fraction],
                 codec: str = 'libx264', crf: int = 18,
                 width: Optional[int] = None,
                 height: Optional[int] = None) -> None:
        import av

        extension = osp.splitext(path)[1].lower()
        if extension not in OUTPUT_FORMATS:
            raise ValueError(f'expected an output file ending in one of '
                             f'{tuple(OUTPUT_FORMATS)}, got {path!r}')
        if codec not in av.codecs_available:
            raise ValueError(f'expected a video codec that this PyAV build '
                             f"provides, got {codec!r}; try codec='libx264' "
                             "or codec='mpeg4'")
        self.path = path
        self.partial_path = path + PARTIAL_SUFFIX
        self.fps = fps_fraction(fps)
        self.codec = codec
        self.crf = crf
        self.frames_written = 0
        self.stream = None
        self.container = av.open(self.partial_path, mode='w',
                                 format=OUTPUT_FORMATS[extension])
        if width is not None and height is not None:
            try:
                self._add_stream(width, height)
            except BaseException:
                self.abort()
                raise

    def _add_stream(self, width: int, height: int) -> None:
        even = width % 2 == 0 and height % 2 == 0
        if not even and self.codec != 'libx264':
            raise ValueError(f'expected an even frame size for codec '
                             f'{self.codec!r}, got {width}x{height}; use '
                             "codec='libx264'")
        self.stream = self.container.add_stream(self.codec, rate=self.fps)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = 'yuv420p' if even else 'yuv444p'
        if self.codec == 'libx264':
            self.stream.options = {'crf': str(self.crf)}

    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame.

        Raises:
            ValueError: the frame's size differs from the stream's.
        """
        import av

        height, width = frame.shape[:2]
        if self.stream is None:
            self._add_stream(width, height)
        elif (width, height) != (self.stream.width, self.stream.height):
            raise ValueError(f'expected frames of {self.stream.width}x'
                             f'{self.stream.height} for {self.path}, got '
                             f'{width}x{height}')
        video_frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(frame), format='rgb24')
        video_frame.pts = self.frames_written
        video_frame.time_base = 1 / self.fps
        self.container.mux(self.stream.encode(video_frame))
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and rename the file to :attr:`path`.

        Raises:
            ValueError: no frame was written; the partial file is deleted.
        """
        if self.stream is None:
            self.abort()
            raise ValueError(f'no frames were written to {self.path}')
        try:
            self.container.mux(self.stream.encode())
            self.container.close()
        except BaseException:
            self.abort()
            raise
        os.replace(self.partial_path, self.path)

    def abort(self) -> None:
        """Close the container and delete the partial file."""
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is deleted anyway
            pass
        if osp.exists(self.partial_path):
            os.remove(self.partial_path)

    def __enter__(self) -> 'VideoWriter':
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
