"""SampleFrames against hand-computed indices."""
import numpy as np
import pytest

from vidft.data.transforms import SampleFrames
from vidft.registry import TRANSFORMS


def sample(total_frames: int, seed: int = 0, start_index: int = 0,
           **kwargs) -> dict:
    np.random.seed(seed)
    return SampleFrames(**kwargs)(dict(total_frames=total_frames,
                                       start_index=start_index))


def test_tsn_train_one_frame_per_segment():
    # 100 frames, 8 segments of (100 - 1 + 1) // 8 = 12 frames.
    results = sample(100, seed=3, clip_len=1, num_clips=8)
    offsets = np.random.RandomState(3).randint(12, size=8)
    expected = np.arange(8) * 12 + offsets
    assert results['frame_inds'].tolist() == expected.tolist()
    for k, index in enumerate(results['frame_inds']):
        assert 12 * k <= index < 12 * (k + 1)


def test_tsn_train_varies_with_seed():
    first = sample(300, seed=0, clip_len=1, num_clips=8)['frame_inds']
    second = sample(300, seed=1, clip_len=1, num_clips=8)['frame_inds']
    assert not np.array_equal(first, second)


def test_tsn_test_takes_segment_centres():
    # floor((k + 0.5) * 100 / 8) for k = 0..7
    results = sample(100, clip_len=1, num_clips=8, test_mode=True)
    assert results['frame_inds'].tolist() == [6, 18, 31, 43, 56, 68, 81, 93]


def test_tsn_test_ignores_seed():
    first = sample(77, seed=0, clip_len=1, num_clips=5, test_mode=True)
    second = sample(77, seed=9, clip_len=1, num_clips=5, test_mode=True)
    assert first['frame_inds'].tolist() == second['frame_inds'].tolist()


def test_tsn_train_fewer_frames_than_segments():
    # (5 - 1 + 1) // 8 == 0 and 5 <= max(8, 1): starts round(k * 5 / 8).
    results = sample(5, clip_len=1, num_clips=8)
    assert results['frame_inds'].tolist() == [0, 1, 1, 2, 2, 3, 4, 4]


def test_dense_train_single_clip():
    # span 16 * 2 = 32, avg (100 - 32 + 1) // 1 = 69: one start in [0, 69).
    results = sample(100, seed=5, clip_len=16, frame_interval=2)
    start = np.random.RandomState(5).randint(69, size=1)[0]
    assert results['frame_inds'].tolist() == list(range(start, start + 32, 2))


def test_dense_train_random_sorted_starts():
    # span 10, avg (21 - 10 + 1) // 13 == 0, 21 > max(13, 10).
    results = sample(21, seed=2, clip_len=10, num_clips=13)
    starts = np.sort(np.random.RandomState(2).randint(12, size=13))
    expected = (starts[:, None] + np.arange(10)).reshape(-1)
    assert results['frame_inds'].tolist() == expected.tolist()


def test_dense_train_video_shorter_than_clip():
    # (2 - 4 + 1) // 1 < 0 and 2 <= max(1, 4): the clip starts at 0, and
    # 'loop' wraps indices 2 and 3 around.
    results = sample(2, clip_len=4)
    assert results['frame_inds'].tolist() == [0, 1, 0, 1]


def test_dense_test_single_clip_centred():
    # covers 15 * 4 + 1 = 61 frames; max offset 39; start 39 // 2 = 19.
    results = sample(100, clip_len=16, frame_interval=4, test_mode=True)
    assert results['frame_inds'].tolist() == list(range(19, 80, 4))


def test_dense_test_multi_view_spacing():
    # max offset 39, three clips: round(0), round(19.5), round(39).
    results = sample(100, clip_len=16, frame_interval=4, num_clips=3,
                     test_mode=True)
    clips = results['frame_inds'].reshape(3, 16)
    assert clips[:, 0].tolist() == [0, 20, 39]
    assert clips[2, -1] == 99
    assert results['num_clips'] == 3


@pytest.mark.parametrize('option, expected', [
    ('loop', [0, 1, 2, 3, 4, 0, 1, 2]),
    ('repeat_last', [0, 1, 2, 3, 4, 4, 4, 4]),
])
def test_short_video_out_of_bound_policy(option, expected):
    results = sample(5, clip_len=8, test_mode=True, out_of_bound_opt=option)
    assert results['frame_inds'].tolist() == expected


def test_short_video_logged_once(monkeypatch):
    from vidft.data.transforms import sampling

    logged = []
    monkeypatch.setattr(sampling, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    monkeypatch.setattr(sampling, 'MAX_SHORT_VIDEO_WARNINGS', 2)
    sampler = SampleFrames(clip_len=8, frame_interval=2, test_mode=True)

    for name in ['a.mp4', 'a.mp4', 'b.mp4', 'c.mp4', 'd.mp4']:
        sampler(dict(total_frames=4, filename=name))
    sampler(dict(total_frames=15, filename='long.mp4'))

    assert logged[0] == ("a.mp4: 4 frames, fewer than the 15 that a clip "
                         "covers, so frames are repeated ('loop'); `vidft "
                         "data check --min-frames 15` lists such videos")
    assert logged[1].startswith('b.mp4: 4 frames')
    assert logged[2] == ('more than 2 videos are shorter than a clip; the '
                         'others are not logged')
    assert len(logged) == 3


@pytest.mark.parametrize('option, expected', [
    ('loop', [0, 2, 4, 1, 0, 2, 4, 1]),
    ('repeat_last', [0, 2, 4, 4, 0, 2, 4, 4]),
])
def test_out_of_bound_per_clip_with_interval(option, expected):
    # 5 frames, clips of 4 frames 2 apart; two test clips both start at 0.
    results = sample(5, clip_len=4, frame_interval=2, num_clips=2,
                     test_mode=True, out_of_bound_opt=option)
    assert results['frame_inds'].tolist() == expected


def test_start_index_added():
    results = sample(100, start_index=1, clip_len=1, num_clips=8,
                     test_mode=True)
    assert results['frame_inds'].tolist() == [7, 19, 32, 44, 57, 69, 82, 94]


def test_sample_keys_and_dtype():
    results = sample(50, clip_len=4, frame_interval=3, num_clips=2)
    assert results['frame_inds'].dtype == np.int64
    assert results['frame_inds'].shape == (8, )
    assert results['clip_len'] == 4
    assert results['frame_interval'] == 3
    assert results['num_clips'] == 2


def test_built_from_registry():
    sampler = TRANSFORMS.build(dict(type='SampleFrames', clip_len=2))
    assert isinstance(sampler, SampleFrames)


@pytest.mark.parametrize('kwargs, message', [
    (dict(clip_len=0), 'clip_len'),
    (dict(clip_len=2, frame_interval=0), 'frame_interval'),
    (dict(clip_len=2, num_clips=1.5), 'num_clips'),
    (dict(clip_len=2, out_of_bound_opt='clamp'), 'out_of_bound_opt'),
])
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SampleFrames(**kwargs)


def test_empty_video_raises_decode_error():
    from vidft.data.video import VideoDecodeError
    with pytest.raises(VideoDecodeError, match='total_frames=0'):
        SampleFrames(clip_len=1)(dict(total_frames=0, filename='empty.mp4'))
