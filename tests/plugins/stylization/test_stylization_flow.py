import os

import numpy as np
import pytest
import torch

from stylization_helpers import textured_frames, write_video
from vidft_stylization.flow import (FlowCache, compute_pair_flows,
                                    normalize_flow_settings, occlusion_mask)
from vidft_stylization.metrics import warping_error_sums


def test_occlusion_mask_consistent_translation():
    forward = torch.zeros(1, 2, 6, 8)
    forward[:, 0] = -2.0
    backward = -forward
    mask = occlusion_mask(forward, backward)
    assert mask.shape == (1, 1, 6, 8)
    # Columns 0 and 1 point two pixels left of the frame: not visible.
    assert mask[..., :2].sum() == 0
    assert mask[..., 2:].min() == 1


def test_occlusion_mask_marks_inconsistent_region():
    forward = torch.zeros(1, 2, 6, 8)
    forward[:, 0] = 3.0
    backward = -forward.clone()
    # Pixels 3-4 of rows 2-3 of frame t-1 move elsewhere (an occluder).
    backward[:, 0, 2:4, 3:5] = 4.0
    mask = occlusion_mask(forward, backward)
    # Pixel x of frame t lands on x + 3, so columns 0-1 see the bad region.
    assert mask[0, 0, 2:4, 0:2].sum() == 0
    assert mask[0, 0, 0:2, 0:5].min() == 1
    # Columns 5-7 point past the right border.
    assert mask[0, 0, :, 5:].sum() == 0


def test_occlusion_mask_threshold_grows_with_motion():
    # The test allows 0.01 of the squared magnitudes plus 0.5 px^2.
    forward = torch.zeros(1, 2, 4, 4)
    backward = torch.zeros(1, 2, 4, 4)
    backward[:, 0] = 0.6  # error 0.36 < 0.5 + 0.0036
    assert occlusion_mask(forward, backward).min() == 1
    backward[:, 0] = 0.8  # error 0.64 > 0.5 + 0.0064
    assert occlusion_mask(forward, backward).max() == 0


def test_dis_recovers_known_shift():
    frames = textured_frames(3, 48, 64, shift=2)
    forward, backward = compute_pair_flows(frames, dict(method='dis'))
    assert forward.shape == (2, 2, 48, 64)
    inner = (slice(None), slice(8, -8), slice(8, -8))
    # Content moves 2 px right, so frame t samples frame t-1 at x - 2.
    assert np.median(forward[0][inner][0]) == pytest.approx(-2.0, abs=0.2)
    assert np.median(backward[0][inner][0]) == pytest.approx(2.0, abs=0.2)
    assert np.abs(np.median(forward[0][inner][1])) < 0.2


def test_farneback_recovers_known_shift():
    frames = textured_frames(2, 48, 64, shift=2)
    forward, _ = compute_pair_flows(frames, dict(method='farneback'))
    assert np.median(forward[0, 0, 8:-8, 8:-8]) == pytest.approx(-2.0,
                                                                 abs=0.3)


def test_flow_settings_validation():
    assert normalize_flow_settings(None) == dict(method='dis',
                                                 preset='medium')
    with pytest.raises(ValueError, match='flow method'):
        normalize_flow_settings(dict(method='raft'))
    with pytest.raises(ValueError, match='unknown Farneback settings'):
        normalize_flow_settings(dict(method='farneback', window=3))
    with pytest.raises(ValueError, match='DIS preset'):
        normalize_flow_settings(dict(method='dis', preset='slow'))


def test_warping_error_known_flow():
    previous = torch.rand(1, 3, 10, 12) * 255
    current = torch.roll(previous, shifts=(1, 3), dims=(2, 3))
    flow = torch.zeros(1, 2, 10, 12)
    flow[:, 0], flow[:, 1] = -3.0, -1.0
    mask = torch.zeros(1, 1, 10, 12)
    mask[..., 1:, 3:] = 1.0  # the wrapped-around band is excluded
    total, count = warping_error_sums(current, previous, flow, mask)
    assert count == 3 * 9 * 9
    assert total / count == pytest.approx(0.0, abs=1e-3)
    # A constant offset of 10 grey levels shows up exactly.
    total, count = warping_error_sums(current + 10, previous, flow, mask)
    assert total / count == pytest.approx(10.0, abs=1e-3)


# Cache ----------------------------------------------------------------------

def _read(path, total):
    from vidft.data.video import open_video

    def read():
        with open_video(path) as reader:
            return list(reader.get(list(range(total))))

    return read


def test_cache_hit_after_first_computation(tmp_path, make_video):
    video = make_video()
    cache = FlowCache(str(tmp_path / 'cache'))
    forward, backward = cache.load(video, 6, None, _read(video, 6))
    assert cache.misses == 1
    assert forward.dtype == np.float16
    assert forward.shape == (5, 2, 32, 48)
    again, _ = cache.load(video, 6, None, _read(video, 6))
    assert cache.misses == 1
    np.testing.assert_array_equal(forward, again)


def test_cache_invalidated_by_touching_video(tmp_path, make_video):
    video = make_video()
    cache = FlowCache(str(tmp_path / 'cache'))
    cache.load(video, 6, None, _read(video, 6))
    old_entry = cache.entry_path(video, 6, None)
    stat = os.stat(video)
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    cache.load(video, 6, None, _read(video, 6))
    assert cache.misses == 2
    assert cache.entry_path(video, 6, None) != old_entry
    # The entry of the old version of the file is removed.
    assert not os.path.exists(old_entry)


def test_cache_invalidated_by_replacing_video(tmp_path, make_video):
    video = make_video(shift=1)
    cache = FlowCache(str(tmp_path / 'cache'))
    before, _ = cache.load(video, 6, None, _read(video, 6))
    before = np.array(before)
    # A new file under the same name, with content moving 3 px per frame.
    replaced = write_video(video, textured_frames(6, 32, 48, shift=3,
                                                  seed=5))
    stat = os.stat(replaced)
    os.utime(replaced, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after, _ = cache.load(video, 6, None, _read(video, 6))
    assert cache.misses == 2
    assert np.median(after[0, 0, 8:-8, 8:-8]) < np.median(
        before[0, 0, 8:-8, 8:-8]) - 1.0


def test_cache_invalidated_by_flow_settings(tmp_path, make_video):
    video = make_video()
    folder = str(tmp_path / 'cache')
    dis = FlowCache(folder, dict(method='dis'))
    dis.load(video, 6, None, _read(video, 6))
    farneback = FlowCache(folder, dict(method='farneback'))
    farneback.load(video, 6, None, _read(video, 6))
    assert farneback.misses == 1
    assert dis.entry_path(video, 6, None) != farneback.entry_path(
        video, 6, None)
    # Entries for other settings of the same file stay valid.
    assert os.path.isdir(dis.entry_path(video, 6, None))
    changed = FlowCache(folder, dict(method='farneback', winsize=9))
    changed.load(video, 6, None, _read(video, 6))
    assert changed.misses == 1
    # Frame count and size are part of the key as well.
    assert dis.entry_path(video, 5, None) != dis.entry_path(video, 6, None)
    assert dis.entry_path(video, 6, (16, 24)) != dis.entry_path(video, 6,
                                                                None)


def test_cache_default_folder_beside_video(make_video):
    video = make_video()
    cache = FlowCache(None)
    cache.load(video, 6, None, _read(video, 6))
    entry = cache.entry_path(video, 6, None)
    assert os.path.dirname(entry) == os.path.join(os.path.dirname(video),
                                                  '.vidft_flow_cache')
    assert sorted(os.listdir(entry)) == ['backward.npy', 'forward.npy',
                                         'manifest.json']


def test_cache_recomputes_incomplete_entry(tmp_path, make_video):
    video = make_video()
    cache = FlowCache(str(tmp_path / 'cache'))
    entry = cache.entry_path(video, 6, None)
    os.makedirs(entry)
    np.save(os.path.join(entry, 'forward.npy'), np.zeros(3, np.float16))
    forward, _ = cache.load(video, 6, None, _read(video, 6))
    assert cache.misses == 1
    assert forward.shape == (5, 2, 32, 48)
    leftovers = [name for name in os.listdir(tmp_path / 'cache')
                 if name.startswith('.partial-')]
    assert leftovers == []


def test_cache_keeps_entry_written_concurrently(tmp_path, make_video):
    video = make_video()
    folder = str(tmp_path / 'cache')
    first = FlowCache(folder)
    entry = first.entry_path(video, 6, None)

    def read_while_another_rank_writes():
        # Another process finishes the same entry during this computation.
        FlowCache(folder).load(video, 6, None, _read(video, 6))
        return _read(video, 6)()

    forward, _ = first.load(video, 6, None, read_while_another_rank_writes)
    assert forward.shape == (5, 2, 32, 48)
    assert os.path.isfile(os.path.join(entry, 'manifest.json'))
    assert [n for n in os.listdir(folder) if n.startswith('.partial-')] == []
