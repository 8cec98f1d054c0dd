"""Find the videos of a dataset that training cannot use.

:func:`check_video` opens one file and decodes every frame; it returns a
:class:`VideoCheck` with a problem kind (see :data:`PROBLEMS`) and a reason.
:func:`check_videos` runs it over many files in a process pool, with a time
limit per file. ``vidft data check`` (:mod:`vidft.cli.data`) prints the bad
files and can write an annotation file without them.
"""
import csv
import dataclasses
import logging
import multiprocessing
import os
import os.path as osp
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import av

from .annotations import (VIDEO_EXTENSIONS, load_csv, load_kinetics_csv,
                          load_video_list)
from .timeout import HARD_KILL_GRACE, DecodeTimeoutError, decode_timeout
from .video import VideoDecodeError, open_video

logger = logging.getLogger(__name__)

#: Problem kind -> what it means.
PROBLEMS: Dict[str, str] = {
    'missing': 'the file does not exist',
    'unreadable': 'the file exists but cannot be read (permissions, a '
    'folder, an I/O error)',
    'not a video': 'no demuxer recognises the file, or it has no video '
    'stream',
    'truncated': 'the container is cut off or lacks its index: it cannot '
    'be opened, or fewer frames decode than it declares',
    'no frames': 'the video stream has zero decodable frames',
    'too short': 'fewer frames decode than the sampler needs',
    'channels': 'decoded frames do not have the expected channel count',
    'timed out': 'decoding took longer than the time limit',
}

# Container formats (FFmpeg demuxer names) whose declared frame count comes
# from a per-sample index, so fewer packets than declared means lost data.
INDEXED_FORMATS = frozenset({'mov', 'mp4', 'm4a', '3gp', '3g2', 'mj2'})

# First bytes of containers that FFmpeg would recognise when complete: a
# file that starts like one but cannot be opened is truncated, not foreign.
_SIGNATURES = ((4, b'ftyp'), (0, b'RIFF'), (0, b'\x1aE\xdf\xa3'),
               (0, b'OggS'), (0, b'FLV'), (4, b'moov'), (4, b'mdat'),
               (4, b'free'), (4, b'wide'))


@dataclasses.dataclass
class VideoCheck:
    """Outcome of checking one video. ``problem`` is a key of
    :data:`PROBLEMS`, or None for a usable file; ``num_frames`` counts the
    frames that decode (-1 when unknown)."""

    path: str
    problem: Optional[str] = None
    reason: str = ''
    num_frames: int = -1

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_video(path: str, *, min_frames: int = 1, channels: int = 3,
                backend: str = 'pyav',
                timeout: Optional[float] = None) -> VideoCheck:
    """Open ``path``, decode all its frames and report the first problem.

    Args:
        path: Video file.
        min_frames: Frames that must decode (the frames a clip covers,
            ``(clip_len - 1) * frame_interval + 1``).
        channels: Channel count that the reader's frames must have.
        backend: Reader backend that training uses (see
            :func:`vidft.data.video.open_video`); its frame count decides
            ``too short``.
        timeout: Seconds the whole check of this file may take; None: no
            limit. Enforced with SIGALRM (see :mod:`vidft.data.timeout`), so
            call it from the main thread.
    """
    if not osp.lexists(path):
        return VideoCheck(path, 'missing', 'the file does not exist')
    try:
        with decode_timeout(timeout, path):
            return _check_frames(path, min_frames, channels, backend)
    except DecodeTimeoutError as error:
        return VideoCheck(path, 'timed out', error.reason)


def _check_frames(path: str, min_frames: int, channels: int,
                  backend: str) -> VideoCheck:
    try:
        with open(path, 'rb') as file:
            head = file.read(16)
    except OSError as error:
        return VideoCheck(path, 'unreadable', f'cannot read the file: '
                          f'{error.strerror or error}')

    # Stage 1: the container as FFmpeg demuxes it, decoded packet by packet.
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as error:
        if any(head[at:at + len(magic)] == magic for at, magic in _SIGNATURES):
            return VideoCheck(path, 'truncated', f'the file starts like a '
                              f'video container but cannot be opened, so '
                              f'its end or its index is missing: {error}')
        return VideoCheck(path, 'not a video', f'cannot open it as a video: '
                          f'{error}')
    with container:
        if not container.streams.video:
            return VideoCheck(path, 'not a video',
                              'the file has no video stream')
        stream = container.streams.video[0]
        declared = stream.frames
        num_packets, num_frames, error = _decode_all(container, stream)
        container_format = set(container.format.name.split(','))
    if error is not None:
        return VideoCheck(path, 'truncated', f'decoding failed after '
                          f'{num_frames} frames: {error}', num_frames)
    if num_frames == 0:
        return VideoCheck(path, 'no frames', f'the video stream has zero '
                          f'decodable frames ({declared} declared)', 0)
    if declared > num_packets and container_format & INDEXED_FORMATS:
        return VideoCheck(path, 'truncated', f'only {num_packets} of the '
                          f'{declared} frames in the index are in the file',
                          num_frames)

    # Stage 2: what the training reader returns.
    try:
        with open_video(path, backend) as reader:
            num_frames = len(reader)
            if num_frames < min_frames:
                return VideoCheck(path, 'too short', f'{num_frames} frames '
                                  f'decode, the sampler needs {min_frames}',
                                  num_frames)
            frames = reader.get([0, num_frames - 1])
    except VideoDecodeError as error:
        return VideoCheck(path, 'truncated', f'the {backend} reader failed: '
                          f'{error.reason}', num_frames)
    if frames.ndim != 4 or frames.shape[-1] != channels:
        return VideoCheck(path, 'channels', f'frames have shape '
                          f'{frames.shape[1:]}, expected {channels} '
                          'channels', num_frames)
    return VideoCheck(path, num_frames=num_frames)


def _decode_all(container: 'av.container.InputContainer',
                stream: 'av.video.stream.VideoStream') -> tuple:
    """Return (packets with data, frames decoded, first error or None)."""
    num_packets = num_frames = 0
    try:
        for packet in container.demux(stream):
            if packet.size:
                num_packets += 1
            num_frames += len(stream.codec_context.decode(
                packet if packet.size else None))
    except av.error.FFmpegError as error:
        return num_packets, num_frames, error
    return num_packets, num_frames, None


# Process pool.

# Start time of each file's check, shared with the parent. The pool
# initializer sets it in each worker, because a shared array cannot travel
# inside a task.
_started: Optional['object'] = None


def _init_worker(started: 'object') -> None:
    global _started
    _started = started


def _check_in_worker(task: tuple) -> tuple:
    index, path, options = task
    _started[index] = time.monotonic()
    try:
        return index, check_video(path, **options)
    except Exception as error:  # a bug or a decoder crash in one file
        logger.debug('checking %s raised', path, exc_info=True)
        return index, VideoCheck(path, 'unreadable', f'the check raised '
                                 f'{type(error).__name__}: {error}')


def check_videos(paths: Sequence[str], *, workers: int = 1,
                 min_frames: int = 1, channels: int = 3,
                 backend: str = 'pyav', timeout: Optional[float] = None,
                 progress: Optional[Callable[[VideoCheck], None]] = None
                 ) -> List[VideoCheck]:
    """Check ``paths`` with :func:`check_video` in ``workers`` processes.

    Returns the results in the order of ``paths``. ``progress`` is called
    once per finished file. A worker whose check overruns the SIGALRM limit
    by :data:`~vidft.data.timeout.HARD_KILL_GRACE` seconds (a blocked system
    call) is killed with its pool. Its file counts as timed out, and the
    remaining files go to a new pool.
    """
    if workers < 1:
        raise ValueError(f'expected workers >= 1, got {workers}')
    options = dict(min_frames=min_frames, channels=channels, backend=backend,
                   timeout=timeout)
    results: Dict[int, VideoCheck] = {}
    pending = list(range(len(paths)))
    context = multiprocessing.get_context('spawn')
    while pending:
        # Shared start times let the parent find a worker that hangs.
        started = context.Array('d', len(paths), lock=False)
        with context.Pool(min(workers, len(pending)), _init_worker,
                          (started, )) as pool:
            hung = _run_pool(pool, paths, pending, options, started, results,
                             timeout, progress)
            pool.terminate()
        for index in hung:
            result = VideoCheck(paths[index], 'timed out', f'timed out after '
                                f'{timeout:g} s; the worker was killed')
            results[index] = result
            if progress is not None:
                progress(result)
        pending = [i for i in pending if i not in results]
    return [results[i] for i in range(len(paths))]


def _run_pool(pool: 'multiprocessing.pool.Pool', paths: Sequence[str],
              pending: List[int], options: dict, started: 'object',
              results: Dict[int, VideoCheck], timeout: Optional[float],
              progress: Optional[Callable[[VideoCheck], None]]) -> List[int]:
    """Feed ``pending`` to ``pool`` until all are done; return the indices
    of files whose check overran the hard limit (then the pool is dead)."""
    asyncs = {i: pool.apply_async(_check_in_worker,
                                  ((i, paths[i], options), ))
              for i in pending}
    while asyncs:
        for index in [i for i, result in asyncs.items() if result.ready()]:
            _, result = asyncs.pop(index).get()
            results[index] = result
            if progress is not None:
                progress(result)
        if timeout:
            now = time.monotonic()
            hung = [i for i in asyncs if started[i] and
                    now - started[i] > timeout + HARD_KILL_GRACE]
            if hung:
                logger.warning('killing the check workers: %s did not stop '
                               'at the %g s time limit', paths[hung[0]],
                               timeout)
                return hung
        if asyncs:
            next(iter(asyncs.values())).wait(0.05)
    return []


def in_class_folders(paths: Sequence[str], folder: str) -> bool:
    """Return whether ``paths`` is not empty and each path lies in a
    subfolder of ``folder``, the layout of ``ann_format='folder'`` (one
    folder per class)."""
    return bool(paths) and all(
        osp.dirname(osp.relpath(path, folder)) for path in paths)


def list_folder_videos(folder: str,
                       extensions: Optional[Sequence[str]] = None
                       ) -> List[str]:
    """Return the video files under ``folder`` (recursively), sorted."""
    suffixes = tuple(e.lower() for e in (extensions or VIDEO_EXTENSIONS))
    return sorted(
        osp.join(directory, name)
        for directory, _, names in os.walk(folder)
        for name in names if name.lower().endswith(suffixes))


# Annotation files.

#: Annotation formats that ``vidft data check`` reads and rewrites.
ANNOTATION_FORMATS = ('folder', 'list', 'csv', 'kinetics')


def detect_format(source: str) -> str:
    """Guess the format of ``source``: a folder, a Kinetics CSV (has a
    ``youtube_id`` column), a ``path,label`` CSV, or an mmaction2 video
    list (anything else)."""
    if osp.isdir(source):
        return 'folder'
    if source.lower().endswith('.csv'):
        with open(source, encoding='utf-8', newline='') as file:
            header = [c.strip() for c in next(csv.reader(file), [])]
        return 'kinetics' if 'youtube_id' in header else 'csv'
    return 'list'


def load_video_source(source: str, fmt: str = 'auto',
                      data_prefix: str = '') -> Tuple[str, List[dict]]:
    """Return ``(format, samples)`` of an annotation file or a folder of
    videos; each sample has 'filename'. ``fmt`` is 'auto' or one of
    :data:`ANNOTATION_FORMATS`."""
    if not osp.exists(source):
        raise FileNotFoundError(f'{source} does not exist; pass an '
                                'annotation file or a folder of videos')
    if fmt == 'auto':
        fmt = detect_format(source)
    if fmt == 'folder':
        return fmt, [dict(filename=path)
                     for path in list_folder_videos(source)]
    loaders = dict(list=load_video_list, csv=load_csv,
                   kinetics=load_kinetics_csv)
    if fmt not in loaders:
        choices = ('auto', ) + ANNOTATION_FORMATS
        raise ValueError(f'expected a format in {choices}, got {fmt!r}')
    return fmt, loaders[fmt](source, data_prefix=data_prefix)


def write_clean_annotation(source: str, fmt: str, keep: Sequence[bool],
                           target: str) -> int:
    """Write ``source`` to ``target`` without the samples whose ``keep`` is
    False, in the same format; return the number of samples written.

    ``keep`` follows the order of :func:`load_video_source`. A folder of
    class folders becomes a CSV with the columns ``path`` and ``label``,
    the label being the class folder's name, which a dataset with
    ``ann_format='csv'`` and ``label_map`` reads. Any other folder becomes
    a list of the kept file paths, one per line, without labels.
    """
    if fmt == 'folder':
        found = list_folder_videos(source)
        paths = [path for path, kept in zip(found, keep) if kept]
        if in_class_folders(found, source):
            os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
            with open(target, 'w', encoding='utf-8', newline='') as file:
                writer = csv.writer(file)
                writer.writerow(['path', 'label'])
                writer.writerows(
                    [path, osp.relpath(path, source).split(os.sep)[0]]
                    for path in paths)
            return len(paths)
        _write_text(target, ''.join(f'{path}\n' for path in paths))
        return len(paths)
    if fmt == 'list':
        with open(source, encoding='utf-8') as file:
            samples = [line for line in file if line.strip()]
        kept_lines = [line if line.endswith('\n') else line + '\n'
                      for line, kept in zip(samples, keep) if kept]
        _check_count(source, len(samples), len(keep))
        _write_text(target, ''.join(kept_lines))
        return len(kept_lines)

    # CSV formats: the header, then the rows that are not blank.
    with open(source, encoding='utf-8', newline='') as file:
        rows = list(csv.reader(file))
    header, body = rows[0], [row for row in rows[1:]
                             if any(cell.strip() for cell in row)]
    _check_count(source, len(body), len(keep))
    kept_rows = [row for row, kept in zip(body, keep) if kept]
    os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
    with open(target, 'w', encoding='utf-8', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(kept_rows)
    return len(kept_rows)


def _check_count(source: str, found: int, expected: int) -> None:
    if found != expected:
        raise ValueError(f'{source} changed while it was checked: expected '
                         f'{expected} samples, found {found}; run the check '
                         'again')


def _write_text(target: str, text: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(target)), exist_ok=True)
    with open(target, 'w', encoding='utf-8') as file:
        file.write(text)
