"""The backend-independent part of video reading: the reader interface, the
decode error and the per-file cache of frame indexes."""
import abc
import logging
import os
import threading
from collections import OrderedDict
from typing import (Any, Callable, Hashable, Iterator, List, Optional,
                    Sequence, Tuple)

import numpy as np

# Attempts at decoding one request before VideoDecodeError is raised. Each
# attempt after the first starts further back (see the backends).
MAX_DECODE_ATTEMPTS = 3

#: Containers the inferencers write output videos in, by file extension
#: (PyAV format names).
OUTPUT_FORMATS = {'.mp4': 'mp4', '.mkv': 'matroska', '.mov': 'mov',
                  '.avi': 'avi'}

# Files whose frame index (or frame count) one process keeps in memory.
INDEX_CACHE_SIZE = 4096

# Frames that VideoReader.iter_frames decodes per request.
STREAM_CHUNK = 16

logger = logging.getLogger(__name__)


class VideoDecodeError(RuntimeError):
    """A video that cannot be opened or decoded.

    ``path`` is the video and ``reason`` the decoder's last error; the
    message names both.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f'{path}: {message}')
        self.path = path
        self.reason = message


def file_key(path: str) -> Tuple[str, int, int, int, int]:
    """Return the cache key of a file: real path, size, mtime and ctime in
    ns, and inode number.

    A file rewritten in place gets a new key, so a stale index is never used.
    The ctime covers a rewrite whose mtime was set back afterwards, because
    setting the mtime updates the ctime.
    """
    try:
        stat = os.stat(path)
    except OSError as error:
        raise VideoDecodeError(path,
                               f'cannot read the file ({error})') from error
    return (os.path.realpath(path), stat.st_size, stat.st_mtime_ns,
            stat.st_ctime_ns, stat.st_ino)


class FileCache:
    """A thread-safe LRU map from :func:`file_key` (plus a namespace) to a
    value that is expensive to compute, such as a packet index."""

    def __init__(self, max_entries: int = INDEX_CACHE_SIZE) -> None:
        self.max_entries = max_entries
        self._entries: 'OrderedDict[Hashable, Any]' = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Optional[Any]:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        value = self.get(key)
        if value is None:
            # Computed outside the lock: two threads may both compute it once.
            value = compute()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: Frame indexes and frame counts of every backend, keyed by
#: ``(backend, *file_key(path))``.
INDEX_CACHE = FileCache()


class VideoReader(abc.ABC):
    """Random access to the frames of one video file.

    Frame ``i`` is the ``i``-th frame that a full sequential decode of the
    file with the same backend returns, whatever the container stores as frame
    count or timestamps. ``len(reader)`` is the number of such frames.
    :meth:`get` returns RGB ``uint8`` frames as an array of shape
    ``(T, H, W, 3)`` in the order requested, repeated indices included.

    A reader keeps its file open until :meth:`close`; use it as a context
    manager to close it.
    """

    #: Name of the backend, as given to :func:`vidft.data.video.open_video`.
    backend: str = ''

    def __init__(self, path: str) -> None:
        self.path = path
        #: Frames decoded since the reader was opened, requested or not. Tests
        #: and benchmarks read it to check how much work a request cost.
        self.num_decoded_frames = 0

    @abc.abstractmethod
    def __len__(self) -> int:
        """Return the number of frames that decode."""

    @property
    @abc.abstractmethod
    def fps(self) -> float:
        """Average frame rate in frames per second."""

    @property
    @abc.abstractmethod
    def height(self) -> int:
        """Frame height in pixels."""

    @property
    @abc.abstractmethod
    def width(self) -> int:
        """Frame width in pixels."""

    def get(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the frames at ``indices`` and return them as ``(T, H, W, 3)``
        RGB ``uint8``, in the order of ``indices``.

        Raises:
            IndexError: an index is outside ``[0, len(self))``.
            VideoDecodeError: the frames could not be decoded within
                :data:`MAX_DECODE_ATTEMPTS` attempts.
        """
        requested = self._check_indices(indices)
        frames = self._decode(sorted(set(requested)))
        return np.stack([frames[index] for index in requested])

    @abc.abstractmethod
    def _decode(self, indices: List[int]) -> dict:
        """Decode the sorted, unique ``indices``; return ``{index: frame}``."""

    def close(self) -> None:
        """Release the file; the reader cannot be used afterwards."""

    def iter_frames(self, chunk_size: int = STREAM_CHUNK
                    ) -> Iterator[np.ndarray]:
        """Yield every frame in order, ``(H, W, 3)`` RGB ``uint8``, decoding
        ``chunk_size`` frames per request.

        A damaged or cut-short file can hold fewer frames than its index
        promised: ``len(self)`` drops when a request finds that out. The
        frames are then the ones that decode, in order, and a warning
        names the file and both counts. A file where no frame decodes
        raises :class:`VideoDecodeError`, and so does a request the
        backend cannot serve for another reason.
        """
        if chunk_size < 1:
            raise ValueError(f'expected chunk_size >= 1, got {chunk_size}')
        expected = len(self)
        start = 0
        while start < len(self):
            stop = min(start + chunk_size, len(self))
            try:
                frames = self.get(list(range(start, stop)))
            except (VideoDecodeError, IndexError):
                if len(self) >= stop:
                    raise
                # The request taught the reader that fewer frames decode;
                # ask again within the new length.
                continue
            yield from frames
            start = stop
        check_decoded_count(self, expected, start)

    def _check_indices(self, indices: Sequence[int]) -> List[int]:
        array = np.asarray(indices).reshape(-1)
        if array.size and array.dtype.kind not in 'iu':
            raise TypeError(f'expected integer frame indices for {self.path}, '
                            f'got dtype {array.dtype}')
        requested = [int(index) for index in array]
        if not requested:
            raise ValueError(f'expected at least one frame index for '
                             f'{self.path}, got an empty sequence')
        num_frames = len(self)
        bad = [index for index in requested if not 0 <= index < num_frames]
        if bad:
            raise IndexError(
                f'expected frame indices in [0, {num_frames}) for '
                f'{self.path}, got {bad[:5]}. The video has {num_frames} '
                'frames that decode: sample indices from len(reader), not '
                'from the frame count that the container declares.')
        return requested

    def __enter__(self) -> 'VideoReader':
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.path!r})'


def check_decoded_count(reader: VideoReader, expected: int,
                        decoded: int) -> None:
    """Raise :class:`VideoDecodeError` when a pass over ``reader`` decoded
    no frame of the ``expected`` ones, and log a warning when fewer than
    ``expected`` decode, which a reader learns only by decoding to the end.
    """
    if decoded == 0 and expected > 0:
        raise VideoDecodeError(
            reader.path, f'none of the {expected} frames in its index '
            'decode; the file is damaged')
    if len(reader) < expected:
        logger.warning(
            '%s: its index lists %d frames, but only %d decode (the file is '
            'damaged or cut short); the frames that fail to decode are left '
            'out. '
            '`vidft data check` reports such files; re-encoding the file '
            'with ffmpeg keeps the frames that decode.', reader.path,
            expected, len(reader))
