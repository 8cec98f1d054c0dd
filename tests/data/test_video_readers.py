"""Frame accuracy and decode cost of the video readers."""
import importlib.util
import os
import sys

import av
import numpy as np
import pytest

from vidft.data.video import (INDEX_CACHE, MAX_DECODE_ATTEMPTS,
                              VideoDecodeError, open_video)
from vidft.data.video import pyav_backend
from vidft.data.video.packet_index import LEARNED, TIMESTAMPS

from video_samples import (KEYFRAME_INTERVAL, NUM_FRAMES, encode, real_frames,
                           sequential_decode)

BACKENDS = ['pyav', 'opencv', 'decord']
VIDEOS = ['avi_mpeg4', 'mp4_h264', 'mkv_mpeg4', 'h264_raw', 'avi_gaps']


def require_backend(backend: str) -> None:
    if backend == 'decord' and importlib.util.find_spec('decord') is None:
        pytest.skip('decord is not installed')


def index_sets(num_frames: int) -> list:
    """Sorted, unsorted, repeated and edge-case requests, seeded."""
    rng = np.random.default_rng(0)
    sets = [
        [0], [num_frames - 1], list(range(num_frames)),
        list(range(num_frames))[::-1], [5, 5, 5], [num_frames - 1, 0, 7, 7],
    ]
    for size in (3, 8, 16):
        sets.append(sorted(rng.choice(num_frames, size, replace=False)))
        sets.append(list(rng.integers(0, num_frames, size)))
    return sets


@pytest.mark.parametrize('video', VIDEOS)
@pytest.mark.parametrize('backend', BACKENDS)
def test_frames_match_sequential_decode(test_videos, backend, video):
    require_backend(backend)
    path = test_videos[video]
    if backend == 'decord' and video == 'h264_raw':
        # decord 0.6.0 cannot open raw streams: it needs a frame count.
        with pytest.raises(VideoDecodeError, match='decord cannot open'):
            open_video(path, backend)
        return
    reference = sequential_decode(path, backend)

    with open_video(path, backend) as reader:
        assert len(reader) == len(reference)
        for indices in index_sets(len(reference)):
            frames = reader.get(indices)
            assert frames.dtype == np.uint8
            assert frames.shape == (len(indices), ) + reference[0].shape
            for got, index in zip(frames, indices):
                assert np.array_equal(got, reference[index]), (
                    f'{backend} returned another frame for index {index} '
                    f'of {indices}')


@pytest.mark.parametrize('backend', BACKENDS)
def test_len_ignores_declared_frame_count(test_videos, backend):
    require_backend(backend)
    path = test_videos['avi_gaps']
    with av.open(path) as container:
        declared = container.streams.video[0].frames
    with open_video(path, backend) as reader:
        assert declared > NUM_FRAMES
        assert len(reader) == NUM_FRAMES
        assert reader.height == 64
        assert reader.width == 128


@pytest.mark.parametrize('video, mode', [
    ('mp4_h264', TIMESTAMPS),
    ('mkv_mpeg4', TIMESTAMPS),
    ('avi_mpeg4', LEARNED),
    ('h264_raw', LEARNED),
])
def test_pyav_index_mode_per_container(test_videos, video, mode):
    with open_video(test_videos[video]) as reader:
        assert reader.index_mode == mode


def test_pyav_sparse_request_decodes_little(test_videos):
    INDEX_CACHE.clear()
    with open_video(test_videos['mp4_h264']) as reader:
        reader.get([1, 2 * KEYFRAME_INTERVAL + 1])
        # Two runs, each from its keyframe, plus the B-frame reorder delay.
        assert reader.num_decoded_frames <= 12
        assert reader.num_decoded_frames >= 4


def test_pyav_learned_order_sparse_after_learning(test_videos):
    with open_video(test_videos['avi_mpeg4']) as reader:
        learned = reader.num_decoded_frames
        reader.get([2 * KEYFRAME_INTERVAL + 1])
        assert reader.num_decoded_frames - learned <= KEYFRAME_INTERVAL + 3


@pytest.mark.parametrize('video', ['mp4_h264', 'h264_raw'])
def test_pyav_chunked_reading_decodes_once(test_videos, video):
    with open_video(test_videos[video]) as reader:
        before = reader.num_decoded_frames
        for start in range(0, NUM_FRAMES, 16):
            reader.get(list(range(start, start + 16)))
        assert reader.num_decoded_frames - before == NUM_FRAMES


def test_pyav_wrong_timestamps_are_detected(test_videos):
    path = test_videos['mp4_h264']
    reference = sequential_decode(path, 'pyav')
    INDEX_CACHE.clear()
    with open_video(path) as reader:
        # Corrupt the order as a wrong timestamp guess would: swap the
        # packets of frames 14 and 15.
        index = reader._index
        packets = index.packet_of_frame
        packets[[14, 15]] = packets[[15, 14]]
        index.frame_of_packet[packets[14]] = 14
        index.frame_of_packet[packets[15]] = 15

        frames = reader.get([13, 15, 20])
        assert reader.index_mode == LEARNED
        for got, frame in zip(frames, [13, 15, 20]):
            assert np.array_equal(got, reference[frame])


def tolerant_decode(path: str) -> list:
    """Decode every packet in order, skipping packets that fail."""
    frames, failures = [], 0
    with av.open(path) as container:
        for packet in container.demux(video=0):
            try:
                frames += [f.to_ndarray(format='rgb24')
                           for f in packet.decode()]
            except av.error.InvalidDataError:
                failures += 1
    return frames, failures


def test_pyav_packet_that_fails_to_decode(test_videos, tmp_path):
    path = str(tmp_path / 'corrupt.mp4')
    data = bytearray(open(test_videos['mp4_h264'], 'rb').read())
    with av.open(test_videos['mp4_h264']) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        position, size = packets[16].pos, packets[16].size
    noise = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    data[position:position + size] = noise.tobytes()
    open(path, 'wb').write(bytes(data))
    reference, failures = tolerant_decode(path)
    assert failures == 1
    assert len(reference) == NUM_FRAMES - 1

    with open_video(path) as reader:
        assert len(reader) == NUM_FRAMES  # from the timestamps
        frames = reader.get([13, 20])
        assert len(reader) == NUM_FRAMES - 1  # learned by a full decode
        assert np.array_equal(frames[0], reference[13])
        assert np.array_equal(frames[1], reference[20])
        everything = reader.get(range(NUM_FRAMES - 1))
        for index, frame in enumerate(everything):
            assert np.array_equal(frame, reference[index])
        for index in (30, 20, 40):
            assert np.array_equal(reader.get([index])[0], reference[index])


def damage_packets(source: str, path: str, packet_ids: range) -> str:
    """Write a copy of ``source`` with noise over the given packets."""
    data = bytearray(open(source, 'rb').read())
    with av.open(source) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    rng = np.random.default_rng(0)
    for packet in (packets[i] for i in packet_ids):
        noise = rng.integers(0, 256, packet.size, dtype=np.uint8)
        data[packet.pos:packet.pos + packet.size] = noise.tobytes()
    open(path, 'wb').write(bytes(data))
    return path


def test_iter_frames_skips_damaged_tail(test_videos, tmp_path, caplog):
    path = damage_packets(test_videos['mp4_h264'],
                          str(tmp_path / 'damaged_tail.mp4'),
                          range(NUM_FRAMES - 8, NUM_FRAMES))
    reference, failures = tolerant_decode(path)
    assert failures > 0

    with open_video(path) as reader:
        assert len(reader) == NUM_FRAMES  # from the timestamps
        with caplog.at_level('WARNING', logger='vidft.data.video.base'):
            frames = list(reader.iter_frames(chunk_size=16))
    assert len(frames) == len(reference)
    for got, expected in zip(frames, reference):
        assert np.array_equal(got, expected)
    assert f'lists {NUM_FRAMES} frames, but only {len(reference)} decode' \
        in caplog.text


def test_iter_frames_undecodable_video_raises(test_videos, tmp_path):
    path = damage_packets(test_videos['mp4_h264'],
                          str(tmp_path / 'all_damaged.mp4'),
                          range(NUM_FRAMES))
    with open_video(path) as reader:
        with pytest.raises(VideoDecodeError, match='all_damaged.mp4'):
            list(reader.iter_frames())


def test_sound_video_logs_no_warning(test_videos, caplog):
    reference = sequential_decode(test_videos['mp4_h264'], 'pyav')
    with open_video(test_videos['mp4_h264']) as reader:
        with caplog.at_level('WARNING', logger='vidft.data.video.base'):
            frames = list(reader.iter_frames(chunk_size=5))
    assert len(frames) == len(reference)
    assert np.array_equal(frames[-1], reference[-1])
    assert caplog.text == ''


def test_index_cache_follows_file_changes(tmp_path):
    path = str(tmp_path / 'video.mp4')
    frames = real_frames()
    encode(path, frames, 'libx264')
    with open_video(path) as reader:
        assert len(reader) == NUM_FRAMES

    encode(path, frames[:20], 'libx264')
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with open_video(path) as reader:
        assert len(reader) == 20
        reference = sequential_decode(path, 'pyav')
        assert np.array_equal(reader.get([19])[0], reference[19])


def test_index_cache_reused(test_videos):
    INDEX_CACHE.clear()
    path = test_videos['avi_mpeg4']
    with open_video(path) as reader:
        assert reader.num_decoded_frames == NUM_FRAMES  # learns the order
    with open_video(path) as reader:
        assert reader.num_decoded_frames == 0


def test_retries_capped_and_error_names_video(test_videos, monkeypatch):
    calls = []

    def failing_runs(self, indices, keyframes_back):
        calls.append(keyframes_back)
        raise pyav_backend._FramesMissing('simulated lost frames')

    def failing_sequential(self, requested, learn=True):
        raise VideoDecodeError(self.path, 'simulated decoder failure')

    monkeypatch.setattr(pyav_backend.PyAVReader, '_decode_runs', failing_runs)
    monkeypatch.setattr(pyav_backend.PyAVReader, '_decode_sequential',
                        failing_sequential)
    path = test_videos['mp4_h264']
    with open_video(path) as reader:
        with pytest.raises(VideoDecodeError) as info:
            reader.get([3])
    assert calls == list(range(MAX_DECODE_ATTEMPTS - 1))
    assert info.value.path == path
    assert path in str(info.value)
    assert 'simulated decoder failure' in str(info.value)
    assert 'simulated lost frames' in str(info.value)


@pytest.mark.parametrize('backend', ['pyav', 'opencv'])
def test_unreadable_files_raise(tmp_path, backend):
    missing = str(tmp_path / 'missing.mp4')
    with pytest.raises(VideoDecodeError) as info:
        open_video(missing, backend)
    assert info.value.path == missing

    garbage = tmp_path / 'garbage.mp4'
    garbage.write_bytes(b'not a video' * 100)
    with pytest.raises(VideoDecodeError) as info:
        open_video(str(garbage), backend)
    assert str(garbage) in str(info.value)


@pytest.mark.parametrize('backend', ['pyav', 'opencv'])
def test_invalid_requests_raise(test_videos, backend):
    with open_video(test_videos['mp4_h264'], backend) as reader:
        with pytest.raises(IndexError, match='expected frame indices'):
            reader.get([NUM_FRAMES])
        with pytest.raises(IndexError):
            reader.get([-1])
        with pytest.raises(ValueError, match='at least one'):
            reader.get([])
        with pytest.raises(TypeError, match='integer'):
            reader.get([1.5])
    with pytest.raises(ValueError, match='closed'):
        reader.get([0])


def test_unknown_backend_lists_choices():
    with pytest.raises(ValueError, match="'opencv'"):
        open_video('video.mp4', backend='ffmpeg')


def test_missing_decord_names_package(monkeypatch, test_videos):
    monkeypatch.setitem(sys.modules, 'decord', None)
    with pytest.raises(ImportError, match='pip install decord'):
        open_video(test_videos['mp4_h264'], backend='decord')
