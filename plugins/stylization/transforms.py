"""Transforms of frame pairs with their optical flow.

They read and write the keys of :class:`~vidft_stylization.datasets.
VideoFramePairDataset`: ``imgs`` (uint8 ``(2, H, W, 3)``), and when present
``flow`` (float32 ``(2, H, W)``) and ``valid_mask`` (float32 ``(1, H,
W)``). Geometric transforms change all three alike, so the flow keeps
describing the motion between the two frames.
"""
import random
from typing import Dict, Sequence, Tuple, Union

import numpy as np
import torch

from .registry import TRANSFORMS
from .structures import StylizationDataSample


class BaseTransform:
    """A pipeline step: ``transform(results)`` returns the updated sample
    dict (mmengine's ``Compose`` calls the object)."""

    def transform(self, results: Dict) -> Dict:
        raise NotImplementedError

    def __call__(self, results: Dict) -> Dict:
        return self.transform(results)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items())
        return f'{type(self).__name__}({args})'


@TRANSFORMS.register_module()
class PairRandomCrop(BaseTransform):
    """Crop the same random ``(height, width)`` window from both frames,
    the flow and the mask. Flow values are unchanged by a crop.

    Args:
        crop_size: ``(height, width)`` or one int for a square.
    """

    def __init__(self, crop_size: Union[int, Sequence[int]]) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if len(crop_size) != 2 or min(crop_size) < 1:
            raise ValueError(f'expected crop_size (height, width) of '
                             f'positive ints, got {crop_size}')
        self.crop_size: Tuple[int, int] = (int(crop_size[0]),
                                           int(crop_size[1]))

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        h, w = imgs.shape[1:3]
        ch, cw = self.crop_size
        if ch > h or cw > w:
            raise ValueError(f'expected crop_size {self.crop_size} within '
                             f'the frame size {(h, w)} of '
                             f"{results.get('filename')}; lower crop_size "
                             'or raise the dataset frame_size')
        top = random.randint(0, h - ch)
        left = random.randint(0, w - cw)
        results['imgs'] = np.ascontiguousarray(
            imgs[:, top:top + ch, left:left + cw])
        for key in ('flow', 'valid_mask'):
            if key in results:
                results[key] = np.ascontiguousarray(
                    results[key][:, top:top + ch, left:left + cw])
        results['img_shape'] = (ch, cw)
        return results


@TRANSFORMS.register_module()
class PairFlip(BaseTransform):
    """Flip both frames, the flow and the mask horizontally with
    probability ``prob``; the horizontal flow component changes sign."""

    def __init__(self, prob: float = 0.5) -> None:
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'expected prob in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if random.random() >= self.prob:
            return results
        results['imgs'] = np.ascontiguousarray(results['imgs'][:, :, ::-1])
        if 'flow' in results:
            flow = np.ascontiguousarray(results['flow'][:, :, ::-1])
            flow[0] = -flow[0]
            results['flow'] = flow
        if 'valid_mask' in results:
            results['valid_mask'] = np.ascontiguousarray(
                results['valid_mask'][:, :, ::-1])
        return results


@TRANSFORMS.register_module()
class PackStylizationInputs(BaseTransform):
    """Pack a pair as ``{'inputs': uint8 (2, 3, H, W), 'data_samples':
    StylizationDataSample}`` with ``flow`` and ``valid_mask`` when present.

    Args:
        meta_keys: Keys of the sample dict copied into the data sample's
            meta information when present.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('filename', 'sequence',
                                             'frame_inds', 'fps', 'img_shape',
                                             'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        imgs = results['imgs']
        if imgs.dtype != np.uint8 or imgs.ndim != 4 or imgs.shape[-1] != 3:
            raise ValueError(f'expected imgs as uint8 (T, H, W, 3), got '
                             f'{imgs.dtype} {imgs.shape}')
        inputs = torch.from_numpy(np.ascontiguousarray(imgs)).permute(
            0, 3, 1, 2).contiguous()
        sample = StylizationDataSample()
        for key in ('flow', 'valid_mask'):
            if key in results:
                setattr(sample, key, torch.from_numpy(
                    np.ascontiguousarray(results[key], dtype=np.float32)))
        sample.set_metainfo(
            {k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)
