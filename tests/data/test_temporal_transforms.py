"""ReverseFrameOrder: each clip played backwards, labels mapped."""
import numpy as np
import pytest

from vidft.data.transforms import ReverseFrameOrder, SampleFrames
from vidft.registry import TRANSFORMS


def numbered_frames(count: int) -> np.ndarray:
    # Frame i is filled with the value i, so the order can be read back.
    return np.arange(count, dtype=np.uint8)[:, None, None, None] * \
        np.ones((1, 4, 6, 3), dtype=np.uint8)


def test_reverses_each_clip_on_its_own():
    results = dict(imgs=numbered_frames(6), clip_len=3, num_clips=2, label=3)
    results = ReverseFrameOrder(prob=1.0, label_map={3: 4, 4: 3})(results)
    assert results['imgs'][:, 0, 0, 0].tolist() == [2, 1, 0, 5, 4, 3]
    assert results['reversed'] is True
    assert results['label'] == 4


def test_prob_zero_keeps_order_and_label():
    results = dict(imgs=numbered_frames(4), clip_len=4, label=3)
    results = ReverseFrameOrder(prob=0.0, label_map={3: 4})(results)
    assert results['imgs'][:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    assert results['reversed'] is False
    assert results['label'] == 3


def test_without_clip_len_reverses_all_frames():
    results = ReverseFrameOrder(prob=1.0)(dict(imgs=numbered_frames(5)))
    assert results['imgs'][:, 0, 0, 0].tolist() == [4, 3, 2, 1, 0]


def test_after_sampling_reverses_the_sampled_clip():
    np.random.seed(0)
    results = SampleFrames(clip_len=4, frame_interval=2, test_mode=True)(
        dict(total_frames=20, start_index=0))
    inds = results['frame_inds']
    results['imgs'] = numbered_frames(20)[inds]
    results = ReverseFrameOrder(prob=1.0)(results)
    assert results['imgs'][:, 0, 0, 0].tolist() == inds[::-1].tolist()


def test_reversal_is_random_per_sample():
    np.random.seed(0)
    flags = [ReverseFrameOrder(prob=0.5)(dict(imgs=numbered_frames(2)))
             ['reversed'] for _ in range(200)]
    assert 70 < sum(flags) < 130


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match='prob'):
        ReverseFrameOrder(prob=1.5)
    with pytest.raises(TypeError, match='label_map'):
        ReverseFrameOrder(label_map={'zoom_in': None})
    with pytest.raises(ValueError, match='whole number of clips'):
        ReverseFrameOrder(prob=1.0)(dict(imgs=numbered_frames(5),
                                         clip_len=3))


def test_registered():
    assert TRANSFORMS.get('ReverseFrameOrder') is ReverseFrameOrder
