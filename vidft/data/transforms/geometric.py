"""Spatial transforms: resize, crops and flips.

Every transform applies one set of parameters (size, crop box, flip) to all
frames of a sample, so the clips stay temporally consistent. Frames are
``(N, H, W, C)`` arrays until :class:`~.formatting.FormatShape`.
"""
import math
from typing import (Any, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import cv2
import numpy as np

from ...registry import TRANSFORMS
from .base import VideoTransform, check_label_map, get_frames, map_label

#: Interpolation names accepted by :class:`Resize`, and the OpenCV flags they
#: map to.
INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}

# Random boxes RandomResizedCrop tries before it falls back to a centre crop.
MAX_CROP_ATTEMPTS = 10


def _pair(size: Union[int, Sequence[int]], name: str) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (size, size)
    if len(size) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0
                                 for s in size):
        raise ValueError(f'expected {name} to be a positive int or a (w, h) '
                         f'pair of positive ints, got {size!r}')
    return int(size[0]), int(size[1])


def _crop(frames: np.ndarray, box: Sequence[int]) -> np.ndarray:
    left, top, right, bottom = box
    return frames[:, top:bottom, left:right]


def _check_crop_fits(crop_w: int, crop_h: int, img_w: int, img_h: int,
                     transform: str) -> None:
    if crop_w > img_w or crop_h > img_h:
        raise ValueError(f'{transform} expected a crop no larger than the '
                         f'frames ({img_w}x{img_h}), got {crop_w}x{crop_h}; '
                         'resize the frames first, e.g. with '
                         'Resize(scale=(-1, 256))')


@TRANSFORMS.register_module()
class Resize(VideoTransform):
    """Resize all frames with ``cv2.resize``.

    Args:
        scale: With ``keep_ratio=True``, a float factor, or ``(-1, s)`` to
            make the short side ``s`` while the long side follows the aspect
            ratio, or ``(a, b)`` to fit the frame into long side
            ``max(a, b)`` and short side ``min(a, b)``. With
            ``keep_ratio=False``, the exact output size ``(w, h)``.
        keep_ratio: Whether to keep the aspect ratio.
        interpolation: One of :data:`INTERPOLATIONS`. The default 'bilinear'
            is ``cv2.INTER_LINEAR``, which does not low-pass filter when
            shrinking; 'area' (``cv2.INTER_AREA``) does.

    Output sizes round to the nearest pixel. Adds ``scale_factor``
    (``(w_factor, h_factor)``) and ``keep_ratio``; updates ``img_shape``.
    """

    def __init__(self, scale: Union[float, Tuple[int, int]],
                 keep_ratio: bool = True,
                 interpolation: str = 'bilinear') -> None:
        if interpolation not in INTERPOLATIONS:
            raise ValueError(f'expected interpolation in '
                             f'{sorted(INTERPOLATIONS)}, got '
                             f'{interpolation!r}')
        if isinstance(scale, (int, float)) and not isinstance(scale, bool):
            if not keep_ratio or scale <= 0:
                raise ValueError(f'expected a positive scale factor with '
                                 f'keep_ratio=True, got scale={scale!r}, '
                                 f'keep_ratio={keep_ratio}')
        elif len(scale) != 2 or min(scale) == 0 or min(scale) < -1 or (
                -1 in scale and (not keep_ratio or max(scale) <= 0)):
            raise ValueError(f'expected scale as a factor, (-1, short side) '
                             f'with keep_ratio=True, or (w, h), got '
                             f'{scale!r} with keep_ratio={keep_ratio}')
        self.scale = scale
        self.keep_ratio = keep_ratio
        self.interpolation = interpolation

    def output_size(self, img_w: int, img_h: int) -> Tuple[int, int]:
        """Return the ``(w, h)`` that frames of ``img_w x img_h`` get."""
        if not self.keep_ratio:
            return int(self.scale[0]), int(self.scale[1])
        if isinstance(self.scale, (int, float)):
            factor = float(self.scale)
        elif -1 in self.scale:
            factor = max(self.scale) / min(img_w, img_h)
        else:
            factor = min(max(self.scale) / max(img_w, img_h),
                         min(self.scale) / min(img_w, img_h))
        return int(img_w * factor + 0.5), int(img_h * factor + 0.5)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'Resize')
        img_h, img_w = frames.shape[1:3]
        new_w, new_h = self.output_size(img_w, img_h)
        if (new_w, new_h) != (img_w, img_h):
            flag = INTERPOLATIONS[self.interpolation]
            frames = np.stack([
                cv2.resize(frame, (new_w, new_h), interpolation=flag)
                for frame in frames
            ])
        results['imgs'] = frames
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / img_w, new_h / img_h)
        results['keep_ratio'] = self.keep_ratio
        return results


@TRANSFORMS.register_module()
class RandomResizedCrop(VideoTransform):
    """Crop a random box of random area and aspect ratio, the same box for
    all frames (Inception-style cropping).

    It only crops, as mmaction2's transform of that name does: follow it
    with ``Resize(scale=(224, 224), keep_ratio=False)``. Up to
    :data:`MAX_CROP_ATTEMPTS` boxes are drawn. Each has an area uniform in
    ``area_range`` times the frame area and an aspect ratio (w / h)
    log-uniform in ``aspect_ratio_range``. The first box that fits is used,
    and if none fits, the centre square of side ``min(H, W)``.

    Adds ``crop_bbox`` (``[left, top, right, bottom]``); updates
    ``img_shape``.
    """

    def __init__(self, area_range: Tuple[float, float] = (0.08, 1.0),
                 aspect_ratio_range: Tuple[float, float] = (3 / 4, 4 / 3)
                 ) -> None:
        if not 0 < area_range[0] <= area_range[1] <= 1:
            raise ValueError(f'expected 0 < area_range[0] <= area_range[1] '
                             f'<= 1, got {area_range!r}')
        if not 0 < aspect_ratio_range[0] <= aspect_ratio_range[1]:
            raise ValueError(f'expected 0 < aspect_ratio_range[0] <= '
                             f'aspect_ratio_range[1], got '
                             f'{aspect_ratio_range!r}')
        self.area_range = tuple(area_range)
        self.aspect_ratio_range = tuple(aspect_ratio_range)

    def crop_box(self, img_w: int, img_h: int) -> List[int]:
        """Draw a crop box ``[left, top, right, bottom]`` for one sample."""
        log_low, log_high = (math.log(r) for r in self.aspect_ratio_range)
        aspect_ratios = np.exp(np.random.uniform(log_low, log_high,
                                                 size=MAX_CROP_ATTEMPTS))
        areas = np.random.uniform(*self.area_range,
                                  size=MAX_CROP_ATTEMPTS) * img_w * img_h
        widths = np.round(np.sqrt(areas * aspect_ratios)).astype(int)
        heights = np.round(np.sqrt(areas / aspect_ratios)).astype(int)
        for width, height in zip(widths, heights):
            if 0 < width <= img_w and 0 < height <= img_h:
                left = np.random.randint(0, img_w - width + 1)
                top = np.random.randint(0, img_h - height + 1)
                return [int(left), int(top), int(left + width),
                        int(top + height)]
        side = min(img_w, img_h)
        left, top = (img_w - side) // 2, (img_h - side) // 2
        return [left, top, left + side, top + side]

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'RandomResizedCrop')
        img_h, img_w = frames.shape[1:3]
        box = self.crop_box(img_w, img_h)
        results['imgs'] = _crop(frames, box)
        results['crop_bbox'] = np.array(box)
        results['img_shape'] = (box[3] - box[1], box[2] - box[0])
        return results


@TRANSFORMS.register_module()
class CenterCrop(VideoTransform):
    """Crop the centre ``crop_size`` (an int or ``(w, h)``) of all frames.

    The box starts at ``((W - w) // 2, (H - h) // 2)``. Adds ``crop_bbox``;
    updates ``img_shape``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'CenterCrop')
        img_h, img_w = frames.shape[1:3]
        crop_w, crop_h = self.crop_size
        _check_crop_fits(crop_w, crop_h, img_w, img_h, 'CenterCrop')
        left, top = (img_w - crop_w) // 2, (img_h - crop_h) // 2
        box = [left, top, left + crop_w, top + crop_h]
        results['imgs'] = _crop(frames, box)
        results['crop_bbox'] = np.array(box)
        results['img_shape'] = (crop_h, crop_w)
        return results


def _multi_crop(results: Dict[str, Any], boxes: List[List[int]],
                flips: bool) -> Dict[str, Any]:
    """Replace the frames by one copy per box (and its mirror image if
    ``flips``), crop-major: all frames of crop 0, then of crop 1, ..."""
    frames = get_frames(results, 'multi-view cropping')
    views = []
    for box in boxes:
        cropped = _crop(frames, box)
        views.append(cropped)
        if flips:
            views.append(cropped[:, :, ::-1])
    results['imgs'] = np.ascontiguousarray(np.concatenate(views))
    results['crop_bbox'] = np.array(boxes)
    results['num_crops'] = len(views)
    results['img_shape'] = views[0].shape[1:3]
    return results


@TRANSFORMS.register_module()
class ThreeCrop(VideoTransform):
    """Take three crops along the long side for multi-view testing.

    The crop must cover the short side (resize the short side to the crop
    size first). The crops are at the start, centre and end of the long side.
    The output contains the frames of each crop in turn, so the view dimension
    of :class:`~.formatting.FormatShape` is crop-major. Adds ``crop_bbox``
    (one box per crop) and ``num_crops``.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        img_h, img_w = get_frames(results, 'ThreeCrop').shape[1:3]
        crop_w, crop_h = self.crop_size
        _check_crop_fits(crop_w, crop_h, img_w, img_h, 'ThreeCrop')
        if crop_h == img_h:
            step = (img_w - crop_w) // 2
            boxes = [[x, 0, x + crop_w, crop_h] for x in (0, step, 2 * step)]
        elif crop_w == img_w:
            step = (img_h - crop_h) // 2
            boxes = [[0, y, crop_w, y + crop_h] for y in (0, step, 2 * step)]
        else:
            raise ValueError(f'ThreeCrop expected the crop {crop_w}x{crop_h} '
                             f'to cover the short side of the frames '
                             f'({img_w}x{img_h}); put Resize(scale=(-1, '
                             f'{min(crop_w, crop_h)})) before it')
        return _multi_crop(results, boxes, flips=False)


@TRANSFORMS.register_module()
class TenCrop(VideoTransform):
    """Take the four corner crops and the centre crop, each followed by its
    horizontal mirror image, for multi-view testing (10 views).

    Adds ``crop_bbox`` (one box per position) and ``num_crops`` (10).
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]]) -> None:
        self.crop_size = _pair(crop_size, 'crop_size')

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        img_h, img_w = get_frames(results, 'TenCrop').shape[1:3]
        crop_w, crop_h = self.crop_size
        _check_crop_fits(crop_w, crop_h, img_w, img_h, 'TenCrop')
        right, bottom = img_w - crop_w, img_h - crop_h
        corners = [(0, 0), (right, 0), (0, bottom), (right, bottom),
                   (right // 2, bottom // 2)]
        boxes = [[x, y, x + crop_w, y + crop_h] for x, y in corners]
        return _multi_crop(results, boxes, flips=True)


@TRANSFORMS.register_module()
class Flip(VideoTransform):
    """Flip all frames of a sample together with probability ``flip_ratio``.

    Args:
        flip_ratio: Probability of flipping.
        direction: 'horizontal' or 'vertical'.
        flip_label_map: The class a flipped sample becomes, for classes whose
            meaning a flip changes, by index (``{1: 2, 2: 1}`` when classes 1
            and 2 are "pan left" and "pan right") or by name
            (``{'pan_left': 'pan_right', 'pan_right': 'pan_left'}``, which a
            dataset with these class names resolves). Other labels stay.

    Adds ``flip`` (whether it flipped) and ``flip_direction``.
    """

    def __init__(self, flip_ratio: float = 0.5,
                 direction: str = 'horizontal',
                 flip_label_map: Optional[Mapping[Any, Any]] = None) -> None:
        if not 0 <= flip_ratio <= 1:
            raise ValueError(f'expected flip_ratio in [0, 1], got '
                             f'{flip_ratio!r}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"expected direction 'horizontal' or "
                             f"'vertical', got {direction!r}")
        self.flip_ratio = flip_ratio
        self.direction = direction
        self.flip_label_map = check_label_map(flip_label_map,
                                              'flip_label_map')

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'Flip')
        flip = bool(np.random.rand() < self.flip_ratio)
        if flip:
            axis = 2 if self.direction == 'horizontal' else 1
            frames = np.ascontiguousarray(np.flip(frames, axis=axis))
            map_label(results, self.flip_label_map)
        results['imgs'] = frames
        results['flip'] = flip
        results['flip_direction'] = self.direction
        return results
