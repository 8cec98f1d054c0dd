"""The in-memory cache of decoded frames."""
import os
import time

import numpy as np
import pytest

from vidft.data.video import DecodedFrameCache, open_video

from video_samples import HEIGHT, WIDTH

FRAME_BYTES = HEIGHT * WIDTH * 3


class CountingCache(DecodedFrameCache):
    """Records the indices of each decode."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.decoded = []

    def _decode(self, path, indices):
        self.decoded.append(list(indices))
        return super()._decode(path, indices)


def _reference(path, indices):
    with open_video(path) as reader:
        return reader.get(indices), reader.fps


def test_cached_frames_equal_decoded_frames(test_videos):
    path = test_videos['mp4_h264']
    cache = CountingCache(max_mb=1)
    for indices in ([4, 2, 3, 3], [3, 4, 5], [5, 2]):
        frames, fps = cache.read(path, indices)
        expected, expected_fps = _reference(path, indices)
        np.testing.assert_array_equal(frames, expected)
        assert fps == expected_fps
    # Each frame was decoded once.
    assert cache.decoded == [[2, 3, 4], [5]]


def test_callers_cannot_change_cached_frames(test_videos):
    path = test_videos['mp4_h264']
    cache = DecodedFrameCache(max_mb=1)
    frames, _ = cache.read(path, [0, 1])
    frames[:] = 0
    again, _ = cache.read(path, [0, 1])
    np.testing.assert_array_equal(again, _reference(path, [0, 1])[0])


def test_budget_keeps_the_most_recent_frames(test_videos):
    path = test_videos['mp4_h264']
    cache = CountingCache(max_mb=3.5 * FRAME_BYTES / 2**20)
    frames, _ = cache.read(path, list(range(6)))
    assert frames.shape == (6, HEIGHT, WIDTH, 3)
    assert len(cache) == 3
    assert cache.cached_bytes == 3 * FRAME_BYTES
    cache.read(path, [3, 4, 5])
    cache.read(path, [0])
    assert cache.decoded == [list(range(6)), [0]]
    # Frame 3 was the least recently used, so frame 0 took its place.
    cache.read(path, [4, 5, 3])
    assert cache.decoded[-1] == [3]


def copy_clip(tmp_path, test_videos) -> tuple:
    """Copy the H.264 test clip into ``tmp_path``; return its path and bytes."""
    path = str(tmp_path / 'clip.mp4')
    with open(test_videos['mp4_h264'], 'rb') as source:
        data = source.read()
    with open(path, 'wb') as target:
        target.write(data)
    return path, data


def test_rewritten_file_is_decoded_again(tmp_path, test_videos):
    path, _ = copy_clip(tmp_path, test_videos)
    cache = CountingCache(max_mb=1)
    cache.read(path, [0])
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    cache.read(path, [0])
    assert cache.decoded == [[0], [0]]


def test_rewrite_with_old_mtime_decoded_again(tmp_path, test_videos):
    path, data = copy_clip(tmp_path, test_videos)
    cache = CountingCache(max_mb=1)
    cache.read(path, [0])
    stat = os.stat(path)
    # Wait past the file system's timestamp granularity, rewrite the same
    # bytes and put the old mtime back, so only the ctime changes.
    time.sleep(0.05)
    with open(path, 'r+b') as target:
        target.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(path).st_mtime_ns == stat.st_mtime_ns
    cache.read(path, [0])
    assert cache.decoded == [[0], [0]]


def test_zero_budget_decodes_every_request(test_videos):
    cache = CountingCache(max_mb=0)
    path = test_videos['mp4_h264']
    cache.read(path, [1])
    cache.read(path, [1])
    assert cache.decoded == [[1], [1]]
    assert len(cache) == 0
    for bad in (-1, float('nan'), float('inf'), None, '8', True):
        with pytest.raises(ValueError, match='finite number >= 0'):
            DecodedFrameCache(max_mb=bad)
    with pytest.raises(ValueError, match='at least one frame index'):
        cache.read(path, [])


def test_cached_frames_do_not_keep_the_decoded_batch(test_videos):
    cache = DecodedFrameCache(max_mb=1.5 * FRAME_BYTES / 2**20)
    cache.read(test_videos['mp4_h264'], list(range(10)))
    (frame,) = cache._frames.values()
    # A view of the 10-frame batch would keep all of it alive.
    assert frame.base is None
