"""Tests of VideoWriter: whole files under the target name, or none."""
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from vidft.data.video import VideoWriter, fps_fraction


def gradient_frames(count: int, height: int = 32, width: int = 48):
    ramp = np.linspace(0, 255, width, dtype=np.uint8)
    return [np.stack([np.roll(ramp, 3 * i)[None].repeat(height, 0)] * 3, -1)
            for i in range(count)]


def write_frames(path: str, frames, *args, **kwargs) -> VideoWriter:
    with VideoWriter(path, *args, **kwargs) as writer:
        for frame in frames:
            writer.write(frame)
    return writer


def decode(path: str):
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format='rgb24') for f in container.decode(stream)]
        return frames, stream.average_rate


@pytest.mark.parametrize('suffix', ['.mp4', '.mkv', '.avi', '.mov'])
def test_writes_frames_at_rate(tmp_path, suffix):
    path = str(tmp_path / f'out{suffix}')
    writer = write_frames(path, gradient_frames(5), 30000 / 1001, crf=0)
    frames, rate = decode(path)
    assert len(frames) == writer.frames_written == 5
    assert rate == Fraction(30000, 1001)
    assert os.listdir(tmp_path) == [f'out{suffix}']
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
    write_frames(path, gradient_frames(3), 25)
    before = open(path, 'rb').read()
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, 25) as writer:
            writer.write(gradient_frames(1)[0])
            raise KeyboardInterrupt
    assert open(path, 'rb').read() == before
    assert os.listdir(tmp_path) == ['out.mp4']


@pytest.mark.parametrize('codec, name', [('libx264', 'odd.mp4'),
                                         ('mpeg4', 'odd.avi')])
def test_odd_sizes_are_kept(tmp_path, codec, name):
    path = str(tmp_path / name)
    write_frames(path, gradient_frames(2, height=31, width=45), 25, codec,
                 crf=0)
    frames, _ = decode(path)
    assert len(frames) == 2
    assert frames[0].shape == (31, 45, 3)


def test_rejects_unknown_codec(tmp_path):
    with pytest.raises(ValueError, match="got 'no-such-codec'"):
        VideoWriter(str(tmp_path / 'out.mp4'), 25, 'no-such-codec')
    assert os.listdir(tmp_path) == []


def test_other_container_by_extension(tmp_path):
    path = str(tmp_path / 'out.m4v')
    write_frames(path, gradient_frames(3), 25)
    assert len(decode(path)[0]) == 3


@pytest.mark.parametrize('target', ['folder', 'input'])
def test_rejects_folder_or_input_as_output(tmp_path, target):
    source = tmp_path / 'input.mp4'
    source.write_bytes(b'the input video')
    (tmp_path / 'folder.mp4').mkdir()
    path = str(tmp_path / f'{target}.mp4')
    with pytest.raises(ValueError, match='folder' if target == 'folder'
                       else 'other than the input'):
        VideoWriter(path, 25, source=str(source))
    assert sorted(os.listdir(tmp_path)) == ['folder.mp4', 'input.mp4']
    assert source.read_bytes() == b'the input video'


def test_missing_folder_fails_before_frames(tmp_path):
    path = str(tmp_path / 'missing' / 'out.mp4')
    with pytest.raises(FileNotFoundError, match='out.mp4'):
        VideoWriter(path, 25)


def test_rejects_frame_of_other_size(tmp_path):
    path = str(tmp_path / 'out.mp4')
    with pytest.raises(ValueError, match='expected frames of 48x32 .* got 46x32'):
        with VideoWriter(path, 25) as writer:
            writer.write(gradient_frames(1)[0])
            writer.write(gradient_frames(1, width=46)[0])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('size', [{}, dict(width=48, height=32)])
def test_close_without_frames_raises(tmp_path, size):
    writer = VideoWriter(str(tmp_path / 'empty.mp4'), 25, **size)
    with pytest.raises(ValueError, match='no frames were written'):
        writer.close()
    assert os.listdir(tmp_path) == []


def test_close_inside_block_is_final(tmp_path):
    path = str(tmp_path / 'out.mp4')
    with VideoWriter(path, 25) as writer:
        writer.write(gradient_frames(1)[0])
        writer.close()
    assert len(decode(path)[0]) == 1


def test_fps_fraction_recovers_ntsc_rates():
    assert fps_fraction(29.97002997) == Fraction(30000, 1001)
    assert fps_fraction(25.0) == Fraction(25)


def test_user_files_near_output_survive(tmp_path):
    # Files named like a partial file of the output are the user's own.
    source = tmp_path / 'clip.part.mp4'
    mine = tmp_path / 'out.part.mp4'
    source.write_bytes(b'the input video')
    mine.write_bytes(b'a file of the user')
    with VideoWriter(str(tmp_path / 'clip.mp4'), 25, source=str(source)) as writer:
        writer.write(gradient_frames(1)[0])
    with pytest.raises(RuntimeError):
        with VideoWriter(str(tmp_path / 'out.mp4'), 25) as writer:
            writer.write(gradient_frames(1)[0])
            raise RuntimeError('stopped')
    assert source.read_bytes() == b'the input video'
    assert mine.read_bytes() == b'a file of the user'
    assert sorted(os.listdir(tmp_path)) == ['clip.mp4', 'clip.part.mp4',
                                            'out.part.mp4']


@pytest.mark.parametrize('codec', ['rawvideo', 'png', 'pcm_s16le'])
def test_codec_unfit_for_container_named(tmp_path, codec):
    from vidft.data.video import VideoEncodeError

    if codec not in av.codecs_available:
        pytest.skip(f'this PyAV build has no {codec}')
    with pytest.raises(VideoEncodeError, match=f"codec '{codec}' cannot write"):
        with VideoWriter(str(tmp_path / 'out.mp4'), 25, codec) as writer:
            writer.write(gradient_frames(1)[0])
    assert os.listdir(tmp_path) == []


def test_output_has_umask_permissions(tmp_path):
    path = tmp_path / 'out.mp4'
    write_frames(str(path), gradient_frames(1), 25)
    reference = tmp_path / 'reference.bin'
    reference.write_bytes(b'')
    assert path.stat().st_mode == reference.stat().st_mode
