"""Transforms for interpolation samples: frame tuples, crops, flips, packing.

A sample's ``'imgs'`` is a uint8 array (T, H, W, 3) of RGB frames in temporal
order. After :class:`SampleTimestep` it contains exactly three frames,
``[frame0, target, frame1]``, and ``'timestep'`` is the position of the
target between the two inputs, in (0, 1).
"""
import random
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.structures import BaseDataElement

from vidft.data.optical_flow import make_flow_function, normalize_flow_settings
from vidft.data.video import DecodedFrameCache

from ..registry import TRANSFORMS

Results = Dict[str, Any]


class TupleTransform:
    """Base of the transforms here: ``__call__`` runs :meth:`transform`."""

    def transform(self, results: Results) -> Results:
        raise NotImplementedError

    def __call__(self, results: Results) -> Results:
        return self.transform(results)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items() if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


def _check_before_teacher_flow(results: Results, transform: str) -> None:
    """Raise if :class:`TeacherFlow` already ran, because ``transform``
    would move the frames under its flows."""
    if 'teacher_flow' in results:
        raise ValueError(f'interpolation.{transform} came after '
                         'interpolation.TeacherFlow in the pipeline; put '
                         'TeacherFlow after every crop, flip and reversal')


def _imgs(results: Results, expected_len: Optional[int] = None) -> np.ndarray:
    imgs = results.get('imgs')
    if imgs is None:
        raise KeyError("expected the key 'imgs' in the sample; put "
                       'interpolation.LoadFrameTuple first in the pipeline')
    if expected_len is not None and len(imgs) != expected_len:
        raise ValueError(f'expected {expected_len} frames in imgs, got {len(imgs)}; '
                         'put interpolation.SampleTimestep before this transform')
    return imgs


@TRANSFORMS.register_module()
class LoadFrameTuple(TupleTransform):
    """Read the frames of a tuple into ``'imgs'`` (T, H, W, 3) uint8 RGB.

    The sample names either ``'frame_paths'`` (image files in temporal
    order) or ``'filename'`` (a video) with ``'frame_inds'``.

    Args:
        backend: Video backend of :func:`vidft.data.video.open_video`.
        cache_mb: Keep up to this many MiB of decoded video frames in memory
            (:class:`vidft.data.video.DecodedFrameCache`, one per data loader
            worker); 0 decodes every tuple.
    """

    def __init__(self, backend: str = 'pyav', cache_mb: float = 0) -> None:
        self.backend = backend
        self.cache_mb = cache_mb
        self._cache = DecodedFrameCache(cache_mb, backend=backend)

    def transform(self, results: Results) -> Results:
        if 'frame_paths' in results:
            frames = [read_rgb_image(path) for path in results['frame_paths']]
            imgs = np.stack(frames)
        elif 'filename' in results and 'frame_inds' in results:
            imgs, _ = self._cache.read(results['filename'],
                                       results['frame_inds'])
        else:
            raise KeyError("expected 'frame_paths', or 'filename' with 'frame_inds', "
                           f'in the sample, got keys {sorted(results)}')
        results['imgs'] = imgs
        results['img_shape'] = imgs.shape[1:3]
        results['original_shape'] = imgs.shape[1:3]
        return results


def read_rgb_image(path: str) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'failed to read the image {path!r}: the file is '
                                'missing or not an image OpenCV can decode')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@TRANSFORMS.register_module()
class SampleTimestep(TupleTransform):
    """Keep the two end frames of a tuple and one frame between them as target.

    For a tuple of ``T`` frames the target is frame ``k`` with timestep
    ``t = k / (T - 1)``. Training draws ``k`` uniformly from 1 to ``T - 2``;
    ``test_mode`` takes the middle frame ``(T - 1) // 2``, so every
    evaluation uses the same targets.

    Args:
        test_mode: Pick the middle frame instead of a random one.
    """

    def __init__(self, test_mode: bool = False) -> None:
        self.test_mode = test_mode

    def transform(self, results: Results) -> Results:
        imgs = _imgs(results)
        num = len(imgs)
        if num < 3:
            raise ValueError(f'expected a tuple of at least 3 frames, got {num}')
        index = (num - 1) // 2 if self.test_mode else random.randint(1, num - 2)
        results['imgs'] = imgs[[0, index, num - 1]]
        results['timestep'] = index / (num - 1)
        if 'frame_inds' in results:
            inds = list(results['frame_inds'])
            results['frame_inds'] = [inds[0], inds[index], inds[-1]]
        return results


@TRANSFORMS.register_module()
class RandomCropTuple(TupleTransform):
    """Crop the same random window from every frame.

    Args:
        crop_size: (height, width) of the window, or one int for a square.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f'expected a positive crop size (height, width), got {crop_size}')
        self.crop_size = tuple(crop_size)

    def transform(self, results: Results) -> Results:
        _check_before_teacher_flow(results, 'RandomCropTuple')
        imgs = _imgs(results)
        height, width = imgs.shape[1:3]
        crop_h, crop_w = self.crop_size
        if crop_h > height or crop_w > width:
            raise ValueError(f'expected frames of at least {crop_h}x{crop_w} for the crop, '
                             f'got {height}x{width} ({results.get("filename", "")}); '
                             'lower crop_size')
        top = random.randint(0, height - crop_h)
        left = random.randint(0, width - crop_w)
        results['imgs'] = np.ascontiguousarray(imgs[:, top:top + crop_h, left:left + crop_w])
        results['img_shape'] = (crop_h, crop_w)
        results['crop_bbox'] = (left, top, left + crop_w, top + crop_h)
        return results


@TRANSFORMS.register_module()
class RandomFlipTuple(TupleTransform):
    """Flip every frame of the tuple alike, horizontally and/or vertically.

    Args:
        horizontal_prob: Probability of a left-right flip.
        vertical_prob: Probability of an upside-down flip.
    """

    def __init__(self, horizontal_prob: float = 0.5, vertical_prob: float = 0.0) -> None:
        for name, value in (('horizontal_prob', horizontal_prob),
                            ('vertical_prob', vertical_prob)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'expected {name} in [0, 1], got {value}')
        self.horizontal_prob = horizontal_prob
        self.vertical_prob = vertical_prob

    def transform(self, results: Results) -> Results:
        _check_before_teacher_flow(results, 'RandomFlipTuple')
        imgs = _imgs(results)
        if random.random() < self.horizontal_prob:
            imgs = imgs[:, :, ::-1]
        if random.random() < self.vertical_prob:
            imgs = imgs[:, ::-1]
        results['imgs'] = np.ascontiguousarray(imgs)
        return results


@TRANSFORMS.register_module()
class RandomTemporalFlip(TupleTransform):
    """Reverse the frame order and map the timestep ``t`` to ``1 - t``.

    For a triplet this swaps the two input frames while the target frame
    stays the same. Temporal reversal and frame-order swap are therefore one
    operation here, and a model learns that a clip played backwards is a
    valid clip.

    Args:
        prob: Probability of the reversal.
    """

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'expected prob in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: Results) -> Results:
        _check_before_teacher_flow(results, 'RandomTemporalFlip')
        imgs = _imgs(results)
        if random.random() >= self.prob:
            return results
        results['imgs'] = np.ascontiguousarray(imgs[::-1])
        results['timestep'] = 1.0 - results.get('timestep', 0.5)
        if 'frame_inds' in results:
            results['frame_inds'] = list(results['frame_inds'])[::-1]
        results['temporal_flip'] = True
        return results


@TRANSFORMS.register_module()
class TeacherFlow(TupleTransform):
    """Add classical optical flow from the target frame to each input frame.

    ``'teacher_flow'`` becomes a float32 array (H, W, 4): F_t->0 then
    F_t->1, in pixels, the intermediate flows that warp each input frame
    onto the target (the convention of :func:`vidft.models.ops.flow_warp`).
    They are computed from the target itself, so they are privileged
    information: a model may learn from them in training
    (``flow_distill_weight`` of ``interpolation.RIFE``) but never gets them
    as input. Put this transform after the crops, flips and reversals, so
    that the flows describe the frames the model gets.

    Args:
        flow: Settings of :func:`vidft.data.optical_flow.make_flow_function`,
            OpenCV's DIS (``dict(method='dis', preset='medium')``, the
            default) or Farneback.
    """

    def __init__(self, flow: Optional[Dict[str, Any]] = None) -> None:
        self.flow = normalize_flow_settings(flow)
        self._estimate: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None

    def __getstate__(self) -> Dict[str, Any]:
        # OpenCV's flow objects do not pickle, and DataLoader workers that
        # are spawned receive the transform pickled, so each makes its own.
        return {**self.__dict__, '_estimate': None}

    def transform(self, results: Results) -> Results:
        if self._estimate is None:
            self._estimate = make_flow_function(self.flow)
        imgs = _imgs(results, expected_len=3)
        first, target, last = (cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
                               for frame in imgs)
        results['teacher_flow'] = np.concatenate(
            (self._estimate(target, first), self._estimate(target, last)), axis=-1)
        return results


@TRANSFORMS.register_module()
class PackInterpolationInputs(TupleTransform):
    """Pack a triplet into ``{'inputs', 'data_samples'}``.

    ``inputs`` is a uint8 tensor (2, 3, H, W) with ``frame0`` and ``frame1``;
    the data sample (an mmengine ``BaseDataElement``) contains ``gt_frame``
    (3, H, W) uint8, ``teacher_flow`` (4, H, W) float32 when
    :class:`TeacherFlow` ran, and the metainfo keys listed in ``meta_keys``
    that the sample has, ``'timestep'`` always included.

    Args:
        meta_keys: Sample keys copied to the metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = (
            'filename', 'frame_inds', 'frame_paths', 'sequence', 'img_shape',
            'original_shape', 'fps', 'sample_idx', 'timestep')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Results) -> Results:
        imgs = _imgs(results, expected_len=3)
        frames = torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2)
        sample = BaseDataElement(gt_frame=frames[1].clone())
        if 'teacher_flow' in results:
            flow = np.ascontiguousarray(results['teacher_flow'], dtype=np.float32)
            if flow.shape != (*imgs.shape[1:3], 4):
                raise ValueError(f'expected teacher_flow of shape {(*imgs.shape[1:3], 4)} '
                                 f'to match the frames, got {flow.shape}; put '
                                 'interpolation.TeacherFlow after every crop and resize')
            sample.teacher_flow = torch.from_numpy(flow).permute(2, 0, 1)
        metainfo = {key: results[key] for key in self.meta_keys if key in results}
        metainfo.setdefault('timestep', results.get('timestep', 0.5))
        sample.set_metainfo(metainfo)
        return {'inputs': frames[[0, 2]].clone(), 'data_samples': sample}
