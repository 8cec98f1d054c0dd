"""VideoInit, VideoDecode and RawFrameDecode, alone and in a full
pipeline."""
import sys

import cv2
import numpy as np
import pytest
from mmengine.dataset import Compose
from video_samples import NUM_FRAMES, real_frames, sequential_decode

from vidft.data.transforms import RawFrameDecode, VideoDecode, VideoInit
from vidft.data.video import VideoDecodeError
from vidft.registry import TRANSFORMS


@pytest.mark.parametrize('backend', ['pyav', 'opencv'])
def test_video_init_and_decode(test_videos, backend):
    path = test_videos['avi_mpeg4']
    results = VideoInit(backend=backend)(dict(filename=path))
    reader = results['video_reader']
    assert results['total_frames'] == NUM_FRAMES
    assert results['fps'] == pytest.approx(25.0)

    results['frame_inds'] = np.array([30, 2, 2, 47])
    results = VideoDecode()(results)
    reference = sequential_decode(path, backend)
    assert 'video_reader' not in results
    assert results['imgs'].shape == (4, 64, 128, 3)
    assert results['original_shape'] == (64, 128)
    assert results['img_shape'] == (64, 128)
    for got, index in zip(results['imgs'], [30, 2, 2, 47]):
        assert np.array_equal(got, reference[index])
    with pytest.raises(ValueError, match='closed'):
        reader.get([0])


def test_video_init_passes_reader_options(test_videos):
    results = VideoInit(num_threads=2)(dict(filename=test_videos['mp4_h264']))
    assert results['video_reader'].num_threads == 2


def test_video_init_rejects_unknown_options():
    with pytest.raises(TypeError, match='num_threads'):
        VideoInit(backend='opencv', num_threads=2)


def test_video_init_without_decord_fails_early(monkeypatch):
    monkeypatch.setitem(sys.modules, 'decord', None)
    with pytest.raises(ImportError, match='decord'):
        VideoInit(backend='decord')


def test_video_decode_needs_reader():
    with pytest.raises(KeyError, match='VideoInit'):
        VideoDecode()(dict(frame_inds=np.array([0])))


def test_raw_frame_decode(tmp_path):
    frames = real_frames(5)
    for index, frame in enumerate(frames, start=1):
        cv2.imwrite(str(tmp_path / f'img_{index:05d}.png'),
                    cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    transform = RawFrameDecode(filename_tmpl='img_{:05d}.png')
    results = transform(dict(frame_dir=str(tmp_path),
                             frame_inds=np.array([5, 1, 1])))
    assert results['imgs'].shape == (3, 64, 128, 3)
    assert np.array_equal(results['imgs'][0], frames[4])
    assert np.array_equal(results['imgs'][2], frames[0])
    assert results['original_shape'] == (64, 128)


def test_raw_frame_decode_missing_frame_names_file(tmp_path):
    with pytest.raises(VideoDecodeError) as info:
        RawFrameDecode()(dict(frame_dir=str(tmp_path),
                              frame_inds=np.array([3])))
    assert info.value.path == str(tmp_path / 'img_00003.jpg')
    assert 'does not exist' in str(info.value)


def test_training_pipeline_from_configs(test_videos):
    pipeline = Compose([TRANSFORMS.build(cfg) for cfg in [
        dict(type='VideoInit'),
        dict(type='SampleFrames', clip_len=1, num_clips=8),
        dict(type='VideoDecode'),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(24, 24), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='ColorJitter'),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackVideoInputs'),
    ]])
    np.random.seed(0)
    packed = pipeline(dict(filename=test_videos['mp4_h264'], label=1))
    assert tuple(packed['inputs'].shape) == (8, 3, 24, 24)
    assert packed['data_samples'].gt_label.tolist() == [1]
    assert len(packed['data_samples'].frame_inds) == 8


def test_multi_view_test_pipeline(test_videos):
    pipeline = Compose([TRANSFORMS.build(cfg) for cfg in [
        dict(type='VideoInit'),
        dict(type='SampleFrames', clip_len=4, frame_interval=2, num_clips=2,
             test_mode=True),
        dict(type='VideoDecode'),
        dict(type='Resize', scale=(-1, 32)),
        dict(type='ThreeCrop', crop_size=32),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackVideoInputs'),
    ]])
    packed = pipeline(dict(filename=test_videos['avi_mpeg4'], label=0))
    # 3 crops x 2 clips = 6 views of (C, T, H, W).
    assert tuple(packed['inputs'].shape) == (6, 3, 4, 32, 32)
