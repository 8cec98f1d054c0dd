"""Write output videos with PyAV, so that a failed run leaves no partial file.

Every inferencer that writes a video uses :class:`VideoWriter`. Frames are
encoded into a new hidden file beside the target
(``.out.mp4.<random>.part.mp4`` for ``out.mp4``), which keeps the extension
for PyAV and cannot be a file of the user's. :meth:`VideoWriter.close`
finishes the file and renames it to the target. :meth:`VideoWriter.abort`,
or an exception inside a ``with`` block, deletes it. A user who stops a
long run, or whose input breaks half way, finds either the whole video or
the file that was there before under the name they asked for.
"""
import os
import os.path as osp
import tempfile
from fractions import Fraction
from typing import Optional, Union

import numpy as np

from .base import OUTPUT_FORMATS

#: Ends the name of the file a writer encodes into, before the extension.
PARTIAL_TAG = '.part'


def make_partial_file(path: str) -> str:
    """Create and return a new, empty file beside ``path`` for
    :class:`VideoWriter` to encode into. Its name is unique, so it is
    never a file that existed before (such as the input video)."""
    folder, name = osp.split(osp.abspath(path))
    extension = osp.splitext(name)[1]
    handle, partial = tempfile.mkstemp(
        prefix=f'.{name}.', suffix=PARTIAL_TAG + extension, dir=folder)
    os.close(handle)
    # mkstemp makes the file private (0600). The video gets the permissions
    # that open() would give a new file under the process umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)
    return partial


def default_output_path(path: str) -> str:
    """Return ``path``, an output name that an inferencer made up, if no
    file has it yet.

    An output path the user names may replace a file, but a made-up one
    must not: ``clip_x4.mp4`` may be a video of the user's own.

    Raises:
        FileExistsError: ``path`` exists. The message names the option
            that replaces it.
    """
    if osp.lexists(path):
        raise FileExistsError(
            f'{path} exists, and a default output name never replaces a '
            f'file; pass --out {path} (out_path in Python) to replace it, '
            'or another name')
    return path


class VideoEncodeError(ValueError):
    """A codec that this PyAV build lacks or that cannot write the frames
    into the container of the output file."""


def fps_fraction(fps: Union[float, Fraction]) -> Fraction:
    """Return ``fps`` as a fraction; NTSC rates such as 29.97 fps come back
    exactly as 30000/1001, because the denominator is capped at 1001."""
    return Fraction(fps).limit_denominator(1001)


class VideoWriter:
    """Encode RGB uint8 frames into a video file at a fixed frame rate.

    Args:
        path: Output file. Its extension picks the container: those of
            :data:`OUTPUT_FORMATS`, or any other that PyAV recognises.
        fps: Frame rate of the output.
        codec: A codec of this PyAV build, ``'libx264'`` by default.
        crf: libx264 quality, lower is better.
        width: Frame width; with ``height``, the stream is set up at once.
            Without them, the first frame sets the size.
        height: Frame height.
        source: The input video, if any. Writing over it is rejected,
            because the rename at the end would replace it.

    Frames are stored as 4:2:0 (``yuv420p``), except that libx264 keeps
    frames with an odd side as 4:4:4.

    NOTE: H.264 in 4:4:4 (the High 4:4:4 Predictive profile) does not play
    in many browsers and hardware decoders. Crop or pad the frames to even
    sides for a file that plays everywhere.

    Raises:
        VideoEncodeError: an unknown codec; :meth:`write` raises it when the
            codec cannot write the frames into the container.
        ValueError: ``path`` is a folder or ``source``.
        OSError: the partial file cannot be created (the message names it).
    """

    def __init__(self, path: str, fps: Union[float, Fraction],
                 codec: str = 'libx264', crf: int = 18,
                 width: Optional[int] = None,
                 height: Optional[int] = None,
                 source: Optional[str] = None) -> None:
        import av

        if codec not in av.codecs_available:
            raise VideoEncodeError(
                f'expected a video codec that this PyAV build provides, got '
                f"{codec!r}; try codec='libx264' or codec='mpeg4'")
        if osp.isdir(path):
            raise ValueError(f'expected a video file name, got the folder '
                             f'{path}')
        if source is not None and osp.exists(path) and \
                osp.samefile(path, source):
            raise ValueError(f'expected an output other than the input '
                             f'video, got {path} for both')
        self.path = path
        self.fps = fps_fraction(fps)
        self.codec = codec
        self.crf = crf
        self.frames_written = 0
        self.stream = None
        self._closed = False
        # PyAV creates its file only at the first packet. Creating it here
        # makes an unwritable folder fail before any frame is computed.
        self.partial_path = make_partial_file(path)
        try:
            self.container = av.open(
                self.partial_path, mode='w',
                format=OUTPUT_FORMATS.get(osp.splitext(path)[1].lower()))
            if width is not None and height is not None:
                self._add_stream(width, height)
        except BaseException:
            self._remove_partial()
            raise

    def _add_stream(self, width: int, height: int) -> None:
        import av

        try:
            self.stream = self.container.add_stream(self.codec, rate=self.fps)
            self.stream.width, self.stream.height = width, height
            odd = width % 2 == 1 or height % 2 == 1
            self.stream.pix_fmt = ('yuv444p' if odd and self.codec == 'libx264'
                                   else 'yuv420p')
            if self.codec == 'libx264':
                self.stream.options = {'crf': str(self.crf)}
        except (TypeError, ValueError, av.FFmpegError) as error:
            raise self._encode_error(error) from None

    def _encode_error(self, error: Exception) -> VideoEncodeError:
        return VideoEncodeError(
            f'codec {self.codec!r} cannot write {self.path}: {error}; try '
            "codec='libx264' or codec='mpeg4'")

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
        try:
            self.container.mux(self.stream.encode(video_frame))
        except av.FFmpegError as error:
            raise self._encode_error(error) from None
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and rename the file to :attr:`path`. A second
        call does nothing.

        Raises:
            ValueError: no frame was written; the partial file is deleted.
        """
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f'no frames were written to {self.path}')
        import av

        try:
            self.container.mux(self.stream.encode())
            self.container.close()
            os.replace(self.partial_path, self.path)
        except av.FFmpegError as error:
            self.abort()
            raise self._encode_error(error) from None
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        """Close the container and delete the partial file."""
        if self._closed:
            return
        self._closed = True
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - the file is deleted next
            pass
        self._remove_partial()

    def _remove_partial(self) -> None:
        if osp.exists(self.partial_path):
            os.remove(self.partial_path)

    def __enter__(self) -> 'VideoWriter':
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
