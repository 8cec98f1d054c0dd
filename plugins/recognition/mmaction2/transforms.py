"""mmaction2's multi-scale crop, which the TSN and TSM training pipelines use.

Converted configs name it ``'recognition.MultiScaleCrop'``; it is registered
when ``vidft_recognition.mmaction2`` is imported (converted configs list
that module in ``custom_imports``).
"""
from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

from vidft.data.transforms.base import VideoTransform, get_frames

from ..registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiScaleCrop(VideoTransform):
    """Crop a box whose sides are chosen from scales of the short side.

    The crop width and height are ``scale * min(H, W)`` for two of
    ``scales`` at most ``max_wh_scale_gap`` positions apart in the list, as
    in TSN's corner cropping. With ``random_crop=False`` the box is placed at
    one of 5 fixed positions (4 corners and the centre), or of 13 with
    ``num_fixed_crops=13``. With ``random_crop=True`` it is placed anywhere.
    Only
    the crop is done: follow with ``Resize(scale=input_size,
    keep_ratio=False)`` as mmaction2's configs do.

    Adds ``crop_bbox`` (``[left, top, right, bottom]``) and ``scales``;
    updates ``img_shape``.

    Args:
        input_size: The network input size ``(w, h)`` (an int for a square),
            kept for reference; the crop sides come from the frames.
        scales: Fractions of the short side that crop sides may have.
        max_wh_scale_gap: Maximum distance in ``scales`` between the width
            and the height scale.
        random_crop: Place the box uniformly at random.
        num_fixed_crops: 5 or 13 fixed positions when ``random_crop`` is
            False.
    """

    def __init__(self, input_size: Union[int, Tuple[int, int]],
                 scales: Sequence[float] = (1, ),
                 max_wh_scale_gap: int = 1, random_crop: bool = False,
                 num_fixed_crops: int = 5) -> None:
        if isinstance(input_size, int):
            input_size = (input_size, input_size)
        if len(tuple(input_size)) != 2:
            raise ValueError(f'expected input_size as an int or (w, h), got '
                             f'{input_size!r}')
        if not scales or any(not 0 < s <= 1 for s in scales):
            raise ValueError(f'expected scales in (0, 1], got {scales!r}')
        if num_fixed_crops not in (5, 13):
            raise ValueError(f'expected num_fixed_crops 5 or 13, got '
                             f'{num_fixed_crops!r}')
        self.input_size = tuple(input_size)
        self.scales = tuple(scales)
        self.max_wh_scale_gap = max_wh_scale_gap
        self.random_crop = random_crop
        self.num_fixed_crops = num_fixed_crops

    def crop_box(self, img_w: int, img_h: int) -> List[int]:
        """Draw a crop box ``[left, top, right, bottom]`` for one sample."""
        base = min(img_w, img_h)
        sides = [int(base * scale) for scale in self.scales]
        pairs = [(w, h) for i, h in enumerate(sides)
                 for j, w in enumerate(sides)
                 if abs(i - j) <= self.max_wh_scale_gap]
        crop_w, crop_h = pairs[np.random.randint(len(pairs))]

        if self.random_crop:
            left = np.random.randint(0, img_w - crop_w + 1)
            top = np.random.randint(0, img_h - crop_h + 1)
        else:
            offsets = self._fixed_offsets(img_w - crop_w, img_h - crop_h)
            left, top = offsets[np.random.randint(len(offsets))]
        return [int(left), int(top), int(left + crop_w), int(top + crop_h)]

    def _fixed_offsets(self, free_w: int, free_h: int
                       ) -> List[Tuple[int, int]]:
        step_w, step_h = free_w // 4, free_h // 4
        offsets = [(0, 0), (4 * step_w, 0), (0, 4 * step_h),
                   (4 * step_w, 4 * step_h), (2 * step_w, 2 * step_h)]
        if self.num_fixed_crops == 13:
            offsets += [(0, 2 * step_h), (4 * step_w, 2 * step_h),
                        (2 * step_w, 4 * step_h), (2 * step_w, 0),
                        (step_w, step_h), (3 * step_w, step_h),
                        (step_w, 3 * step_h), (3 * step_w, 3 * step_h)]
        return offsets

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'MultiScaleCrop')
        img_h, img_w = frames.shape[1:3]
        box = self.crop_box(img_w, img_h)
        left, top, right, bottom = box
        results['imgs'] = frames[:, top:bottom, left:right]
        results['crop_bbox'] = np.array(box)
        results['img_shape'] = (bottom - top, right - left)
        results['scales'] = self.scales
        return results
