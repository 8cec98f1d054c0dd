"""Tests of VideoWriter: whole files under the target name, or none."""
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from vidft.data.video import PARTIAL_SUFFIX, VideoWriter, fps_fraction


def gradient_frames(count: int, height: int = 32, width: int = 48):
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    return [np.stack([np.roll(ramp, 3 * i)[None].repeat(height, 0)] * 3, -1)
            for i in range(count)]


def decode(path: str):
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format='rgb24') for f in container.decode(stream)]
        return frames, stream.average_rate


@pytest.mark.parametrize('suffix', ['.mp4', '.mkv', '.avi', '.mov'])
def test_writes_frames_at_rate(tmp_path, suffix):
    path = str(tmp_path / f'out{suffix}')
    with VideoWriter(path, 30000 / 1001, crf=0) as writer:
        for frame in gradient_frames(5):
            writer.write(frame)
    frames, rate = decode(path)
    assert len(frames) == writer.frames_written == 5
    assert rate == Fraction(30000, 1001)
    assert not os.path.exists(path + PARTIAL_SUFFIX)
    # Near-lossless: crf 0 keeps the gradient within rounding of YUV.
    assert np.abs(frames[2].astype(int) - gradient_frames(5)[2]).max() <= 3


def test_error_inside_block_leaves_no_file(tmp_path):
    path = str(tmp_path / 'out.mp4')
    with pytest.raises(RuntimeError, match='model failed'):
        with VideoWriter(path, 25) as writer:
            writer.write(gradient_frames(1)[0])
            raise RuntimeError('model failed')
    assert os.listdir(tmp_path) == []


def test_failed_run_keeps_earlier_output(tmp_path):
    path = str(tmp_path / 'out.mp4')
    with VideoWriter(path, 25) as writer:
        for frame in gradient_frames(3):
            writer.write(frame)
    before = open(path, 'rb').read()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, 25) as writer:
            writer.write(gradient_frames(1)[0])
            raise KeyboardInterrupt
    assert open(path, 'rb').read() == before
    assert os.listdir(tmp_path) == ['out.mp4']


def test_odd_size_needs_libx264(tmp_path):
    odd = gradient_frames(2, height=31, width=45)
    with VideoWriter(str(tmp_path / 'odd.mp4'), 25, crf=0) as writer:
        for frame in odd:
            writer.write(frame)
    frames, _ = decode(str(tmp_path / 'odd.mp4'))
    assert frames[0].shape == (31, 45, 3)
    with pytest.raises(ValueError, match="even frame size for codec 'mpeg4'"):
        VideoWriter(str(tmp_path / 'odd.avi'), 25, 'mpeg4', width=45, height=31)
    assert os.listdir(tmp_path) == ['odd.mp4']


@pytest.mark.parametrize('kwargs, message', [
    (dict(path='out.gif'), "ending in one of \\('.mp4'"),
    (dict(path='out.mp4', codec='no-such-codec'), "got 'no-such-codec'"),
])
def test_rejects_bad_format_and_codec(tmp_path, kwargs, message):
    kwargs['path'] = str(tmp_path / kwargs['path'])
    with pytest.raises(ValueError, match=message):
        VideoWriter(fps=25, **kwargs)
    assert os.listdir(tmp_path) == []


def test_rejects_frame_of_other_size(tmp_path):
    path = str(tmp_path / 'out.mp4')
    with pytest.raises(ValueError, match='expected frames of 48x32 .* got 46x32'):
        with VideoWriter(path, 25) as writer:
            writer.write(gradient_frames(1)[0])
            writer.write(gradient_frames(1, width=46)[0])
    assert os.listdir(tmp_path) == []


def test_close_without_frames_raises(tmp_path):
    writer = VideoWriter(str(tmp_path / 'empty.mp4'), 25)
    with pytest.raises(ValueError, match='no frames were written'):
        writer.close()
    assert os.listdir(tmp_path) == []


def test_fps_fraction_recovers_ntsc_rates():
    assert fps_fraction(29.97002997) == Fraction(30000, 1001)
    assert fps_fraction(25.0) == Fraction(25)
