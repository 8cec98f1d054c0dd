"""Optical flow between consecutive frames, occlusion masks, and the flow
cache on disk.

Flow conventions are those of :func:`vidft.models.ops.flow_warp`: ``(2, H,
W)`` in pixels, channel 0 horizontal. For a pair ``(t - 1, t)`` the
*forward* flow here is the one from frame ``t`` to frame ``t - 1`` (warping
frame ``t - 1`` with it lands on frame ``t``), and the *backward* flow goes
from ``t - 1`` to ``t``.

Occlusion: a pixel ``x`` of frame ``t`` counts as visible in frame ``t -
1`` when the two flows cancel out,
``|F_f(x) + F_b(x + F_f(x))|^2 < 0.01 (|F_f(x)|^2 + |F_b(x + F_f(x))|^2)
+ 0.5``, the forward-backward consistency test of Ruder et al., "Artistic
Style Transfer for Videos" (GCPR 2016), eq. 5 (their additional
motion-boundary test is not applied).
"""
import hashlib
import json
import logging
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import cv2
import numpy as np
import torch
from torch import Tensor

# The flow estimators live in the core; the names stay importable from here.
from vidft.data.optical_flow import (DIS_PRESETS, FARNEBACK_DEFAULTS,  # noqa: F401
                                     FLOW_METHODS, make_flow_function,
                                     normalize_flow_settings)
from vidft.data.video import VideoDecodeError
from vidft.models.ops import flow_warp

logger = logging.getLogger(__name__)

#: Bumped when the cache layout or the flow computation changes.
CACHE_VERSION = 1

#: Folder name of the default cache, created beside each video.
DEFAULT_CACHE_FOLDER = '.vidft_flow_cache'


def compute_pair_flows(frames: Iterable[np.ndarray],
                       settings: Optional[Dict[str, Any]] = None
                       ) -> Tuple[np.ndarray, np.ndarray]:
    """Compute forward and backward flows of every consecutive pair.

    Args:
        frames: RGB uint8 frames ``(H, W, 3)`` in order.
        settings: See :func:`normalize_flow_settings`.

    Returns:
        ``(forward, backward)``, each float32 ``(T - 1, 2, H, W)``:
        ``forward[i]`` goes from frame ``i + 1`` to frame ``i``,
        ``backward[i]`` from frame ``i`` to frame ``i + 1``.
    """
    flow = make_flow_function(settings)
    forward, backward = [], []
    previous = None
    for frame in frames:
        grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
        if previous is not None:
            forward.append(flow(grey, previous).transpose(2, 0, 1))
            backward.append(flow(previous, grey).transpose(2, 0, 1))
        previous = grey
    if not forward:
        raise ValueError('expected at least two frames to compute flow, '
                         'got fewer')
    return np.stack(forward), np.stack(backward)


def occlusion_mask(forward: Tensor, backward: Tensor) -> Tensor:
    """Return 1 where the forward-backward check passes, else 0.

    Args:
        forward: Flow from frame ``t`` to ``t - 1``, ``(N, 2, H, W)``.
        backward: Flow from ``t - 1`` to ``t``, ``(N, 2, H, W)``.

    Returns:
        Float mask ``(N, 1, H, W)``, 1 for pixels of frame ``t`` visible in
        frame ``t - 1`` (test in the module doc). Pixels whose flow points
        more than half a pixel outside the frame are 0.
    """
    forward = forward.float()
    backward = backward.float()
    warped = flow_warp(backward, forward, padding_mode='border')
    error = (forward + warped).pow(2).sum(1, keepdim=True)
    bound = 0.01 * (forward.pow(2).sum(1, keepdim=True) +
                    warped.pow(2).sum(1, keepdim=True)) + 0.5
    mask = error < bound

    h, w = forward.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, device=forward.device),
                            torch.arange(w, device=forward.device),
                            indexing='ij')
    # A pixel covers +-0.5 around its centre, so targets within half a
    # pixel of the border still land on the frame.
    target_x = xs + forward[:, 0:1]
    target_y = ys + forward[:, 1:2]
    inside = ((target_x >= -0.5) & (target_x <= w - 0.5) &
              (target_y >= -0.5) & (target_y <= h - 0.5))
    return (mask & inside).float()


# The cache ----------------------------------------------------------------

def video_signature(path: str) -> Dict[str, Any]:
    """Return what identifies a video file's content: real path, size and
    modification time in nanoseconds."""
    stat = os.stat(path)
    return dict(path=osp.realpath(path), size=stat.st_size,
                mtime_ns=stat.st_mtime_ns)


def cache_key(signature: Dict[str, Any], settings: Dict[str, Any],
              num_frames: int, frame_size: Optional[Tuple[int, int]]) -> str:
    """Return the hex SHA-256 of everything the cached flows depend on."""
    manifest = dict(version=CACHE_VERSION, video=signature,
                    flow=normalize_flow_settings(settings),
                    num_frames=int(num_frames),
                    frame_size=list(frame_size) if frame_size else None)
    text = json.dumps(manifest, sort_keys=True)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


class FlowCache:
    """Flows of consecutive frame pairs of video files, cached on disk.

    Each entry is a folder ``<cache_dir>/<video stem>-<key>`` holding
    ``forward.npy`` and ``backward.npy`` (float16 ``(T - 1, 2, H, W)``, see
    :func:`compute_pair_flows`) and ``manifest.json``. The key hashes the
    video's real path, size and modification time, the flow settings, the
    frame count and the frame size (:func:`cache_key`), so touching or
    replacing the video or changing a setting makes a new entry. Writing an
    entry deletes the entries of earlier versions of the same video file
    (same path, other size or modification time). Entries with other
    settings for the current file stay valid and are kept. Entries are written to a temporary folder and renamed, so an
    interrupted run leaves no partial entry.

    Args:
        cache_dir: Folder of the entries; None puts them in
            :data:`DEFAULT_CACHE_FOLDER` beside each video.
        settings: Flow settings (:func:`normalize_flow_settings`).
    """

    def __init__(self, cache_dir: Optional[str] = None,
                 settings: Optional[Dict[str, Any]] = None) -> None:
        self.cache_dir = cache_dir
        self.settings = normalize_flow_settings(settings)
        self.misses = 0

    def folder_for(self, video: str) -> str:
        """Return the cache folder used for ``video``."""
        if self.cache_dir is not None:
            return self.cache_dir
        return osp.join(osp.dirname(osp.abspath(video)), DEFAULT_CACHE_FOLDER)

    def entry_path(self, video: str, num_frames: int,
                   frame_size: Optional[Tuple[int, int]]) -> str:
        """Return the entry folder of ``video`` for the current settings."""
        key = cache_key(video_signature(video), self.settings, num_frames,
                        frame_size)
        stem = osp.splitext(osp.basename(video))[0]
        return osp.join(self.folder_for(video), f'{stem}-{key[:20]}')

    def load(self, video: str, num_frames: int,
             frame_size: Optional[Tuple[int, int]],
             read_frames: Callable[[], Iterable[np.ndarray]]
             ) -> Tuple[np.ndarray, np.ndarray]:
        """Return memory-mapped ``(forward, backward)`` flows of ``video``,
        computing them from ``read_frames()`` (the ``num_frames`` frames,
        already at ``frame_size``) on a miss."""
        entry = self.entry_path(video, num_frames, frame_size)
        if not osp.isfile(osp.join(entry, 'manifest.json')):
            self.misses += 1
            self._write(entry, video, num_frames, frame_size, read_frames)
        else:
            logger.debug('Flow cache hit: %s', entry)
        return (np.load(osp.join(entry, 'forward.npy'), mmap_mode='r'),
                np.load(osp.join(entry, 'backward.npy'), mmap_mode='r'))

    def _write(self, entry: str, video: str, num_frames: int,
               frame_size: Optional[Tuple[int, int]],
               read_frames: Callable[[], Iterable[np.ndarray]]) -> None:
        folder = osp.dirname(entry)
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as error:
            raise OSError(f'cannot create the flow cache folder {folder} '
                          f'({error}); set flow_cache_dir in the dataset '
                          'config to a writable folder') from error
        logger.info('Computing %s optical flow of %d frames of %s into %s',
                    self.settings['method'], num_frames, video, entry)
        forward, backward = compute_pair_flows(read_frames(), self.settings)
        if len(forward) != num_frames - 1:
            raise VideoDecodeError(
                video, f'{len(forward) + 1} of the {num_frames} frames in its '
                'index decode, and the flow cache needs them all; re-encode '
                f'the file with ffmpeg, or set max_frames={len(forward) + 1}')

        staging = tempfile.mkdtemp(prefix='.partial-', dir=folder)
        try:
            np.save(osp.join(staging, 'forward.npy'),
                    forward.astype(np.float16))
            np.save(osp.join(staging, 'backward.npy'),
                    backward.astype(np.float16))
            manifest = dict(version=CACHE_VERSION,
                            video=video_signature(video),
                            flow=self.settings, num_frames=num_frames,
                            frame_size=list(frame_size) if frame_size
                            else None)
            with open(osp.join(staging, 'manifest.json'), 'w') as f:
                json.dump(manifest, f, indent=1, sort_keys=True)
            self._remove_stale(folder, video, keep=entry)
            self._publish(staging, entry)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @staticmethod
    def _publish(staging: str, entry: str) -> None:
        if osp.isdir(entry) and not osp.isfile(
                osp.join(entry, 'manifest.json')):
            # An incomplete folder (copied by hand, or a crashed older
            # writer) is replaced.
            shutil.rmtree(entry)
        try:
            os.rename(staging, entry)
        except OSError:
            if not osp.isfile(osp.join(entry, 'manifest.json')):
                raise
            # Another process (a second rank) wrote the same entry first;
            # its flows are the same, so keep them.
            logger.debug('Flow cache entry %s was written concurrently',
                         entry)
            shutil.rmtree(staging, ignore_errors=True)

    @staticmethod
    def _remove_stale(folder: str, video: str, keep: str) -> None:
        current = video_signature(video)
        stem = osp.splitext(osp.basename(video))[0]
        for name in os.listdir(folder):
            path = osp.join(folder, name)
            if path == keep or not name.startswith(stem + '-'):
                continue
            try:
                with open(osp.join(path, 'manifest.json')) as f:
                    manifest = json.load(f)
            except (OSError, ValueError):
                continue
            old = manifest.get('video', {})
            if old.get('path') == current['path'] and old != current:
                logger.info('Removing the stale flow cache entry %s', path)
                shutil.rmtree(path, ignore_errors=True)
