"""Frame-accurate random access with PyAV: seek to keyframes from a packet
index, decode forward and identify every decoded frame by its packet.

A request for some frames is planned as a few runs. A run seeks to the
keyframe before its first frame and decodes forward. The next frame starts a
new run only when a keyframe lies between it and the frames that the current
run decodes anyway. Each packet sent to the decoder carries its decode
position as its opaque value, which FFmpeg copies to the frame that the
packet produces, through B-frame reordering. The frame index then comes
from the :class:`~vidft.data.video.packet_index.PacketIndex`, never from
counting frames after a seek to a guessed position.

Within a run, the frames from the start keyframe on must come out as
consecutive frame indices. A gap, a repeat or a frame from an unknown packet
means the index or the seek was wrong, and the request is retried (see
:meth:`PyAVReader._decode`). No frame is returned before all frames between
the run's keyframe and it have come out in order.
"""
import logging
from typing import Dict, Iterator, List, Optional, Set, Tuple

import av
import numpy as np

from .base import (INDEX_CACHE, MAX_DECODE_ATTEMPTS, VideoDecodeError,
                   VideoReader, file_key)
from .packet_index import SEQUENTIAL, TIMESTAMPS, PacketIndex, build_index

logger = logging.getLogger(__name__)

# Packets a decoder may hold before it outputs the frame of the first of
# them: the H.264 reorder limit (16) plus frame-threading delay, with margin.
MAX_DECODER_DELAY = 64


class _OrderMismatch(Exception):
    """Decoded frames did not come out in the order the index predicts."""


class _FramesMissing(Exception):
    """A run ended without producing some of its frames."""


class _Run:
    """A forward decode from a keyframe: the decoded frames still to come,
    the last packet sent, the run's first frame and the frame due next."""

    def __init__(self, frames: Iterator[Tuple[int, Optional[av.VideoFrame]]],
                 position: int, first_frame: int) -> None:
        self.frames = frames
        self.position = position
        self.first_frame = first_frame
        self.next_frame = first_frame


class PyAVReader(VideoReader):
    """Video reader on PyAV (FFmpeg) with keyframe seeking.

    A packet that fails to decode yields no frame, as in FFmpeg's own tools,
    so the frames after it move up by one index.
    NOTE: with an index from timestamps, such a packet is found only when a
    request decodes it, which makes the reader learn the order by a full
    decode. Until then, ``len()`` and the frames after it follow the
    timestamps, one index off.

    Args:
        path: Video file.
        num_threads: Decoder threads; 0 lets FFmpeg choose. Data loaders
            usually run one reader per worker process, so the default is 1.
    """

    backend = 'pyav'

    def __init__(self, path: str, num_threads: int = 1) -> None:
        super().__init__(path)
        if num_threads < 0:
            raise ValueError(f'expected num_threads >= 0 (0: FFmpeg '
                             f'chooses), got {num_threads}')
        self.num_threads = num_threads
        self._container: Optional[av.container.InputContainer] = None
        self._closed = False
        self._open()
        self._cache_key = (self.backend, ) + file_key(path)
        index = INDEX_CACHE.get(self._cache_key)
        if index is None:
            index = self._build_index()
            INDEX_CACHE.put(self._cache_key, index)
        self._index: PacketIndex = index
        if not self._index.is_ordered:
            self._decode_sequential(set())

    # Opening and indexing.

    def _open(self) -> None:
        self._release()
        try:
            container = av.open(self.path)
        except (av.error.FFmpegError, OSError) as error:
            raise VideoDecodeError(
                self.path, f'cannot open the video: {error}') from error
        if not container.streams.video:
            container.close()
            raise VideoDecodeError(self.path, 'the file has no video stream')
        stream = container.streams.video[0]
        context = stream.codec_context
        context.thread_count = self.num_threads
        context.thread_type = 'AUTO'
        # Frames carry the opaque value of the packet they were decoded from.
        context.copy_opaque = True
        self._container, self._stream = container, stream
        self._at_start = True
        self._live_run: Optional[_Run] = None

    def _build_index(self) -> PacketIndex:
        # Demuxes the open container to the end; the first run seeks back.
        self._at_start = False
        try:
            return build_index(self._container, self._stream)
        except (av.error.FFmpegError, OSError) as error:
            raise VideoDecodeError(
                self.path, f'cannot demux the video: {error}') from error

    def _update_index(self, index: PacketIndex) -> None:
        self._index = index
        INDEX_CACHE.put(self._cache_key, index)

    # Properties.

    def __len__(self) -> int:
        return self._index.num_frames

    @property
    def fps(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        # NOTE: a stream without any frame rate reports 0.0.
        return float(rate) if rate else 0.0

    @property
    def height(self) -> int:
        return self._frame_size()[0]

    @property
    def width(self) -> int:
        return self._frame_size()[1]

    def _frame_size(self) -> Tuple[int, int]:
        context = self._stream.codec_context
        if context.height > 0 and context.width > 0:
            return context.height, context.width
        # Some containers leave the size to the first decoded frame.
        return self.get([0]).shape[1:3]

    @property
    def index_mode(self) -> str:
        """How the frame order was found: 'timestamps', 'learned' or
        'sequential' (see :mod:`vidft.data.video.packet_index`)."""
        return self._index.mode

    def close(self) -> None:
        self._closed = True
        self._release()

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    # Decoding.

    def _decode(self, indices: List[int]) -> Dict[int, np.ndarray]:
        if self._closed:
            raise ValueError(f'the reader of {self.path} is closed; open the '
                             'video again to read more frames')
        requested = set(indices)
        if not self._index.identifiable:
            return self._decode_sequential(requested, learn=False)

        last_error: Optional[Exception] = None
        for attempt in range(MAX_DECODE_ATTEMPTS - 1):
            try:
                return self._decode_runs(indices, keyframes_back=attempt)
            except _OrderMismatch as error:
                last_error = error
                if self._index.mode == TIMESTAMPS:
                    logger.info('%s: decoded frames disagree with the '
                                'timestamps (%s); learning the frame order '
                                'by a full decode', self.path, error)
                    break
            except (_FramesMissing, av.error.FFmpegError) as error:
                last_error = error
            logger.debug('%s: decode attempt %d of %d failed: %s', self.path,
                         attempt + 1, MAX_DECODE_ATTEMPTS, last_error)

        # The last attempt is a full sequential decode: it defines the frame
        # order, so it also corrects the index.
        try:
            return self._decode_sequential(requested)
        except VideoDecodeError as error:
            if last_error is None:
                raise
            raise VideoDecodeError(
                self.path, f'{error.reason} (the earlier seeking attempts '
                f'failed with: {last_error})') from error

    def _decode_runs(self, indices: List[int],
                     keyframes_back: int) -> Dict[int, np.ndarray]:
        frames: Dict[int, np.ndarray] = {}
        for start, run in self._plan_runs(indices, keyframes_back):
            frames.update(self._decode_run(start, run))
        return frames

    def _plan_runs(self, indices: List[int],
                   keyframes_back: int) -> List[Tuple[int, List[int]]]:
        """Group sorted frame indices into runs of (start packet, frames).

        Without seekable keyframes there is one run, from the first packet.
        """
        index = self._index
        runs: List[Tuple[int, List[int]]] = []
        last_packet = -1
        for frame in indices:
            start = (index.start_packet(frame, keyframes_back)
                     if index.seekable else 0)
            packet = int(index.packet_of_frame[frame])
            if runs and start <= last_packet:
                runs[-1][1].append(frame)
            else:
                runs.append((start, [frame]))
            last_packet = max(last_packet, packet)
        return runs

    def _decode_run(self, start: int,
                    requested: List[int]) -> Dict[int, np.ndarray]:
        run = self._live_run
        # Continue the previous request's run when the new frames are still
        # ahead of it and no keyframe lies between: a reader that streams a
        # video in chunks then decodes each frame once.
        if (run is None or requested[0] < run.next_frame
                or start > run.position):
            run = self._start_run(start)
        self._live_run = None  # a run that raises is not continued
        frames = self._collect(run, requested)
        self._live_run = run
        return frames

    def _start_run(self, start: int) -> '_Run':
        if self._index.seekable:
            if start > 0 or not self._at_start:
                self._container.seek(self._index.seek_timestamps[start],
                                     backward=True, stream=self._stream)
        elif not self._at_start:
            self._open()
        self._at_start = False
        frames = self._decode_from()
        position, _ = next(frames, (-1, None))
        first_frame = self._landing_frame(position, start)
        return _Run(frames, position, first_frame)

    def _collect(self, run: '_Run',
                 requested: List[int]) -> Dict[int, np.ndarray]:
        """Decode forward in ``run`` until every ``requested`` frame is out."""
        index = self._index
        missing: Set[int] = set(requested)
        frames: Dict[int, np.ndarray] = {}
        last_packet = max(int(index.packet_of_frame[f]) for f in requested)

        for run.position, frame in run.frames:
            if frame is None:
                if run.position > last_packet + MAX_DECODER_DELAY:
                    break
                continue
            number = self._frame_number(frame)
            if number < run.first_frame:
                continue  # a leading frame of the keyframe's open GOP
            if number != run.next_frame:
                raise _OrderMismatch(f'expected frame {run.next_frame} next, '
                                     f'decoded frame {number}')
            run.next_frame += 1
            if number in missing:
                frames[number] = frame.to_ndarray(format='rgb24')
                missing.discard(number)
                if not missing:
                    return frames
        raise _FramesMissing(f'frames {sorted(missing)[:5]} did not decode')

    def _landing_frame(self, position: int, start: int) -> int:
        """Return the frame of the keyframe a seek for ``start`` landed on."""
        if position < 0:
            raise _FramesMissing(f'the seek for packet {start} landed at the '
                                 'end of the file')
        if position > start or not self._index.is_keyframe[position]:
            raise _FramesMissing(f'the seek for packet {start} landed on '
                                 f'packet {position}, not on a keyframe '
                                 'at or before it')
        first = int(self._index.frame_of_packet[position])
        if first < 0:
            raise _FramesMissing(f'the seek landed on packet {position}, '
                                 'which yields no frame')
        return first

    def _frame_number(self, frame: av.VideoFrame) -> int:
        origin = frame.opaque
        if origin is None:
            raise _OrderMismatch('the decoder returned a frame without the '
                                 'position of its packet')
        number = int(self._index.frame_of_packet[origin[0]])
        if number < 0:
            raise _OrderMismatch(f'a frame came from packet {origin[0]}, '
                                 'which the index expects to yield none')
        return number

    def _decode_from(self) -> Iterator[Tuple[int, Optional[av.VideoFrame]]]:
        """Demux and decode from the current position to the end.

        Yields ``(position, None)`` for the first packet and for every packet
        that yields no frame, and ``(position, frame)`` for every decoded
        frame, where ``position`` is the decode position of the last packet
        sent.
        """
        index = self._index
        context = self._stream.codec_context
        position = -1
        first = True
        for packet in self._container.demux(self._stream):
            if packet.size == 0:
                continue
            position = index.position_of(packet)
            if position is None:
                raise _FramesMissing('the demuxer returned a packet that is '
                                     'not in the index')
            if first:
                yield position, None
                first = False
            # A new tuple per packet: PyAV keys opaque values by id().
            packet.opaque = (position, )
            try:
                decoded = context.decode(packet)
            except av.error.InvalidDataError as error:
                if index.mode == TIMESTAMPS:
                    # The count from the timestamps is wrong: learn it.
                    raise _OrderMismatch(f'packet {position} failed to '
                                         f'decode ({error})') from error
                decoded = []  # as in the learning decode
            self.num_decoded_frames += len(decoded)
            if not decoded:
                yield position, None
            for frame in decoded:
                yield position, frame
        for frame in context.decode(None):
            self.num_decoded_frames += 1
            yield position, frame

    def _decode_sequential(self, requested: Set[int],
                           learn: bool = True) -> Dict[int, np.ndarray]:
        """Decode from the start of the file and collect the ``requested``
        frames.

        Frame ``k`` of this decode is frame index ``k`` by definition, so it
        needs no index. With ``learn=True`` it decodes to the end, records
        which packet each frame came from and replaces the index with that
        learned order. Otherwise it stops after the last requested frame.
        """
        self._open()
        self._at_start = False
        context = self._stream.codec_context
        origins: List[Optional[int]] = []
        frames: Dict[int, np.ndarray] = {}
        last_requested = max(requested, default=-1)

        def keep(decoded: List[av.VideoFrame]) -> None:
            self.num_decoded_frames += len(decoded)
            for frame in decoded:
                number = len(origins)
                origin = frame.opaque
                origins.append(origin[0] if origin is not None else None)
                if number in requested:
                    frames[number] = frame.to_ndarray(format='rgb24')

        # A packet that fails to decode yields no frame, as in FFmpeg's own
        # tools, so the frames after it keep their place in the order.
        position, failed, first_failed, last_error = 0, 0, -1, None
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0:
                    continue
                packet.opaque = (position, )
                position += 1
                try:
                    keep(context.decode(packet))
                except av.error.InvalidDataError as error:
                    failed, last_error = failed + 1, error
                    if first_failed < 0:
                        first_failed = position - 1
                    continue
                if not learn and len(origins) > last_requested:
                    break
            else:
                keep(context.decode(None))
        except av.error.FFmpegError as error:
            raise VideoDecodeError(
                self.path, f'sequential decode failed at packet {position} '
                f'after {len(origins)} frames: {error}') from error
        if failed:
            logger.debug('%s: %d packets failed to decode, the last with: %s',
                         self.path, failed, last_error)

        if learn:
            self._learn_order(origins, position, first_failed)
        lost = sorted(requested - set(frames))
        if lost:
            cause = (f'; {failed} packets failed to decode, the last with: '
                     f'{last_error}' if failed else '')
            raise VideoDecodeError(
                self.path, f'frames {lost[:5]} do not decode: a full decode '
                f'yields {len(origins)} frames{cause}')
        return frames

    def _learn_order(self, origins: List[Optional[int]], num_packets: int,
                     first_failed_packet: int) -> None:
        index = self._index
        if num_packets != index.num_packets:
            raise VideoDecodeError(
                self.path, f'the file changed while it was read: '
                f'{index.num_packets} packets indexed, {num_packets} read')
        learned = index.with_learned_order(origins, first_failed_packet)
        if index.is_ordered and learned.num_frames != index.num_frames:
            logger.info('%s: %d frames decode, not %d as the packet index '
                        'predicted', self.path, learned.num_frames,
                        index.num_frames)
        if learned.num_frames != index.declared_frames:
            logger.debug('%s: %d frames decode; the container declares %d',
                         self.path, learned.num_frames, index.declared_frames)
        self._update_index(learned)
