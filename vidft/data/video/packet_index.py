"""A packet-level index of one video stream, read by demuxing without decoding.

The index maps every frame index (the position of a frame in a full
sequential decode) to the packet that produces the frame, and records where
the keyframes are. :class:`~vidft.data.video.pyav_backend.PyAVReader` plans its
seeks with it and identifies each decoded frame by the packet it came from.

How the frame order is found depends on how far the container's timestamps
can be trusted:

* ``'timestamps'``: every packet has a unique presentation timestamp (pts)
  that the container stores (MP4, MOV, Matroska, WebM, MPEG-TS, ...). The
  frame order is the pts order, so B-frames (pts order != decode order) need
  no decoding to be indexed.
* ``'learned'``: the pts are missing, repeated or only guessed by the demuxer.
  AVI and raw elementary streams store no pts. For a stream with B-frames
  the demuxer guesses them, and the guess is wrong for packed MPEG-4 part 2
  B-frames (DivX/Xvid AVI). The order is then learned once by a full
  sequential decode that records which packet each output frame came from.
* ``'sequential'``: the decoder loses track of the packets (no origin on its
  frames), so frames are identified by counting from the start of the file
  and every request decodes from the start.
"""
import dataclasses
import logging
from typing import Dict, List, Optional

import av
import numpy as np

logger = logging.getLogger(__name__)

TIMESTAMPS = 'timestamps'
LEARNED = 'learned'
SEQUENTIAL = 'sequential'

# Containers that store no presentation timestamps: libavformat guesses them
# for streams with B-frames. Raw elementary streams carry the no_timestamps
# flag; AVI does not, so it is named.
GUESSED_PTS_FORMATS = ('avi',)


# Packet fields that can identify a packet again after a seek, in order of
# preference. The byte position stayed the same after seeks in the AVI, MP4
# and Matroska files tested, while timestamps that the demuxer derives
# (Matroska dts, AVI pts) changed.
PACKET_KEY_FIELDS = ('pos', 'pts', 'dts')


def _choose_key_field(values: Dict[str, List[Optional[int]]]) -> Optional[str]:
    for field in PACKET_KEY_FIELDS:
        column = values[field]
        # PyAV reports an unknown byte position as -1.
        known = [v for v in column
                 if v is not None and (field != 'pos' or v >= 0)]
        if len(known) == len(column) and len(set(known)) == len(column):
            return field
    return None


@dataclasses.dataclass
class PacketIndex:
    """Packets of one video stream in decode order, and the frame order.

    Only packets with data are indexed; they are also the only packets a
    reader sends to the decoder.
    """

    #: Packet field that identifies a packet after a seek (one of
    #: :data:`PACKET_KEY_FIELDS`), ``None`` where none is unique.
    key_field: Optional[str]
    #: Decode position of each packet, by its ``key_field`` value.
    positions: Dict[int, int]
    #: Whether the packet at each decode position is a keyframe.
    is_keyframe: np.ndarray
    #: Timestamp to seek to for the packet at each decode position (pts, else
    #: dts), in the stream's time base; ``None`` where the packet has neither.
    seek_timestamps: List[Optional[int]]
    #: ``TIMESTAMPS``, ``LEARNED`` or ``SEQUENTIAL`` (see the module doc).
    mode: str
    #: Frame index of the packet at each decode position; -1 where the packet
    #: yields no frame, and everywhere until a ``LEARNED`` order is learned.
    frame_of_packet: np.ndarray
    #: Decode position of the packet of each frame.
    packet_of_frame: np.ndarray
    #: Frame count that the container declares (0 where it declares none).
    declared_frames: int
    #: Decode position of the first packet that failed to decode in the
    #: learning decode, -1 if none did.
    first_failed_packet: int = -1

    @property
    def num_packets(self) -> int:
        return len(self.is_keyframe)

    @property
    def is_ordered(self) -> bool:
        """Whether the frame order is known: from the timestamps, or learned
        by a full decode."""
        return self.mode != LEARNED or len(self.packet_of_frame) > 0

    @property
    def num_frames(self) -> int:
        return len(self.packet_of_frame)

    @property
    def identifiable(self) -> bool:
        """Whether a demuxed packet and a decoded frame can be matched to
        their decode position and frame index."""
        return self.mode != SEQUENTIAL and self.key_field is not None

    @property
    def seekable(self) -> bool:
        """Whether a run may start at a keyframe other than the first: every
        keyframe has a timestamp to seek to."""
        return self.identifiable and all(
            self.seek_timestamps[p] is not None
            for p in np.flatnonzero(self.is_keyframe))

    def position_of(self, packet: av.Packet) -> Optional[int]:
        """Return the decode position of a demuxed packet, ``None`` if the
        index does not know it."""
        return self.positions.get(getattr(packet, self.key_field))

    def with_learned_order(self, origins: List[Optional[int]],
                           first_failed_packet: int = -1) -> 'PacketIndex':
        """Return a copy with the frame order of a full sequential decode.

        ``origins[k]`` is the decode position of the packet that produced the
        ``k``-th decoded frame, ``None`` where the decoder gave no position.
        ``first_failed_packet`` is the first packet that failed to decode.
        """
        frame_of_packet = np.full(self.num_packets, -1, dtype=np.int64)
        mode = LEARNED
        for frame, origin in enumerate(origins):
            if origin is None or frame_of_packet[origin] >= 0:
                mode = SEQUENTIAL
                break
            frame_of_packet[origin] = frame
        if mode == SEQUENTIAL:
            frame_of_packet[:] = -1
            packet_of_frame = np.arange(len(origins), dtype=np.int64)
        else:
            packet_of_frame = np.asarray(origins, dtype=np.int64)
        return dataclasses.replace(
            self, mode=mode, frame_of_packet=frame_of_packet,
            packet_of_frame=packet_of_frame,
            first_failed_packet=first_failed_packet)

    def start_packet(self, frame: int, keyframes_back: int = 0) -> int:
        """Return the decode position to start decoding ``frame`` from.

        That is the last keyframe at or before the frame's packet whose own
        frame is not later than ``frame``. The second condition skips the
        keyframe of an open GOP whose leading B-frames reference the previous
        GOP. ``keyframes_back`` steps further back, for retries. Position 0
        is returned when no keyframe qualifies, and for frames decoded after
        a packet that failed to decode: how the decoder conceals the loss
        depends on its history, which only a decode from the start
        reproduces.
        """
        packet = int(self.packet_of_frame[frame])
        if 0 <= self.first_failed_packet <= packet:
            return 0
        keyframes = np.flatnonzero(self.is_keyframe[:packet + 1])
        skipped = 0
        for keyframe in keyframes[::-1]:
            if 0 <= self.frame_of_packet[keyframe] <= frame:
                if skipped == keyframes_back:
                    return int(keyframe)
                skipped += 1
        return 0


def build_index(container: av.container.InputContainer,
                stream: av.video.stream.VideoStream) -> PacketIndex:
    """Index ``stream`` by demuxing ``container`` from its current position
    (the start of the file) to the end, without decoding."""
    values: Dict[str, List[Optional[int]]] = {
        field: [] for field in PACKET_KEY_FIELDS}
    keyframes, discarded = [], []
    for packet in container.demux(stream):
        # The empty packet at the end of a stream only signals the decoder to
        # flush, and empty AVI chunks are dropped frames without a picture.
        if packet.size == 0:
            continue
        for field in PACKET_KEY_FIELDS:
            values[field].append(getattr(packet, field))
        keyframes.append(bool(packet.is_keyframe))
        discarded.append(bool(packet.is_discard))

    pts_values, dts_values = values['pts'], values['dts']
    num_packets = len(keyframes)
    key_field = _choose_key_field(values)
    positions = ({value: position
                  for position, value in enumerate(values[key_field])}
                 if key_field is not None else {})
    seek_timestamps = [pts if pts is not None else dts
                       for pts, dts in zip(pts_values, dts_values)]
    mode = _choose_mode(container, stream, pts_values, dts_values, discarded)
    frame_of_packet = np.full(num_packets, -1, dtype=np.int64)
    packet_of_frame = np.zeros(0, dtype=np.int64)
    if mode == TIMESTAMPS:
        displayed = [p for p in range(num_packets) if not discarded[p]]
        packet_of_frame = np.asarray(
            sorted(displayed, key=lambda p: pts_values[p]), dtype=np.int64)
        frame_of_packet[packet_of_frame] = np.arange(len(packet_of_frame))
    index = PacketIndex(
        key_field=key_field,
        positions=positions,
        is_keyframe=np.asarray(keyframes, dtype=bool),
        seek_timestamps=seek_timestamps,
        mode=mode,
        frame_of_packet=frame_of_packet,
        packet_of_frame=packet_of_frame,
        declared_frames=int(stream.frames or 0))
    if not index.seekable:
        logger.debug('%s: packets cannot be recognised after a seek '
                     '(repeated positions and timestamps, or keyframes '
                     'without timestamps), so every decode starts at '
                     'the first packet', container.name)
    logger.debug('%s: indexed %d packets (%d keyframes), frame order from '
                 '%s', container.name, num_packets, sum(keyframes), mode)
    return index


def _choose_mode(container: av.container.InputContainer,
                 stream: av.video.stream.VideoStream,
                 pts_values: List[Optional[int]],
                 dts_values: List[Optional[int]],
                 discarded: List[bool]) -> str:
    displayed_pts = [pts for pts, drop in zip(pts_values, discarded)
                     if not drop]
    if any(pts is None for pts in displayed_pts):
        return LEARNED
    if len(set(displayed_pts)) != len(displayed_pts):
        return LEARNED

    guessed = (container.format.name in GUESSED_PTS_FORMATS
               or bool(container.format.flags
                    & av.format.Flags.no_timestamps.value))
    reordered = bool(stream.codec_context.has_b_frames) or any(
        dts is not None and pts != dts
        for pts, dts in zip(pts_values, dts_values))
    if guessed and reordered:
        return LEARNED
    return TIMESTAMPS
