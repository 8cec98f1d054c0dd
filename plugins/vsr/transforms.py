"""Transforms of paired LR/HR clips.

They read and write these keys of the sample dict (see
:mod:`vidft_vsr.datasets` for the keys the datasets provide):

* ``gt_imgs`` / ``lr_imgs``: HR / LR frames, uint8 ``(T, H, W, 3)`` RGB;
* ``scale``: the integer upscaling factor between them.

Geometric transforms apply the same operation to both, with LR coordinates
multiplied by ``scale`` for HR, so the pair stays aligned.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from .degradations import degrade_frames, mod_crop
from .registry import TRANSFORMS
from .structures import VSRDataSample

Range = Union[float, Tuple[float, float]]


class BaseTransform:
    """A pipeline step: ``transform(results)`` returns the updated sample
    dict (mmengine's ``Compose`` calls the object)."""

    def transform(self, results: Dict) -> Dict:
        raise NotImplementedError

    def __call__(self, results: Dict) -> Dict:
        return self.transform(results)

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in vars(self).items()
                         if not k.startswith('_'))
        return f'{type(self).__name__}({args})'


def _read_image(path: str) -> np.ndarray:
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f'failed to read the frame {path}: the file '
                                'is missing or not an image OpenCV decodes')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@TRANSFORMS.register_module()
class LoadFrames(BaseTransform):
    """Read frame files into ``gt_imgs`` (from ``gt_paths``) and
    ``lr_imgs`` (from ``lr_paths``); a missing path list is skipped."""

    def transform(self, results: Dict) -> Dict:
        for key in ('gt', 'lr'):
            paths = results.get(f'{key}_paths')
            if paths:
                results[f'{key}_imgs'] = np.stack(
                    [_read_image(path) for path in paths])
        return results


@TRANSFORMS.register_module()
class LoadVideoFrames(BaseTransform):
    """Decode ``frame_inds`` of the video ``filename`` into ``gt_imgs``.

    Args:
        backend: Decoder backend of :func:`vidft.data.video.open_video`.
        cache_mb: Keep up to this many MiB of decoded frames in memory
            (:class:`vidft.data.video.DecodedFrameCache`, one per data loader
            worker); 0 decodes every clip.
    """

    def __init__(self, backend: str = 'pyav', cache_mb: float = 0) -> None:
        from vidft.data.video import DecodedFrameCache

        self.backend = backend
        self.cache_mb = cache_mb
        self._cache = DecodedFrameCache(cache_mb, backend=backend)

    def transform(self, results: Dict) -> Dict:
        frames, fps = self._cache.read(results['filename'],
                                       results['frame_inds'])
        results['gt_imgs'] = frames
        results.setdefault('fps', fps)
        return results


def _draw(value: Range, rng: np.random.Generator) -> float:
    if isinstance(value, (tuple, list)):
        low, high = value
        return float(rng.uniform(low, high))
    return float(value)


@TRANSFORMS.register_module()
class Degrade(BaseTransform):
    """Make ``lr_imgs`` from ``gt_imgs`` on the fly.

    The HR frames are first cropped at the bottom and right to multiples of
    ``scale``. Then :func:`vidft_vsr.degradations.degrade_frames` applies
    blur, bicubic downsampling (MATLAB ``imresize``), noise and JPEG, in that
    order. A ``(low, high)`` pair draws the value uniformly once per clip, so
    all frames of a clip share one degradation.

    Args:
        scale: Downsampling factor; stored in ``results['scale']``.
        blur_sigma: Gaussian blur sigma in HR pixels (0 disables it).
        noise_sigma: Gaussian noise sigma in 8-bit levels (0 disables it).
        jpeg_quality: JPEG quality in [0, 100], or ``None`` for no JPEG.
        seed: Makes the degradation of each sample reproducible (the
            generator is seeded with ``(seed, sample_idx)``), for validation
            sets. ``None`` draws from fresh OS entropy.
    """

    def __init__(self,
                 scale: int = 4,
                 blur_sigma: Range = 0.0,
                 noise_sigma: Range = 0.0,
                 jpeg_quality: Optional[Union[int, Tuple[int, int]]] = None,
                 seed: Optional[int] = None) -> None:
        if scale < 1:
            raise ValueError(f'expected scale >= 1, got {scale}')
        self.scale = scale
        self.blur_sigma = blur_sigma
        self.noise_sigma = noise_sigma
        self.jpeg_quality = jpeg_quality
        self.seed = seed

    def transform(self, results: Dict) -> Dict:
        if self.seed is None:
            rng = np.random.default_rng()
        else:
            rng = np.random.default_rng(
                (self.seed, int(results.get('sample_idx', 0))))
        quality = None
        if self.jpeg_quality is not None:
            quality = int(round(_draw(self.jpeg_quality, rng)))

        gt = np.stack([mod_crop(frame, self.scale)
                       for frame in results['gt_imgs']])
        results['gt_imgs'] = gt
        results['lr_imgs'] = degrade_frames(
            gt,
            self.scale,
            blur_sigma=_draw(self.blur_sigma, rng),
            noise_sigma=_draw(self.noise_sigma, rng),
            jpeg_quality=quality,
            rng=rng)
        results['scale'] = self.scale
        return results


@TRANSFORMS.register_module()
class PairedRandomCrop(BaseTransform):
    """Crop the same random region from LR and HR frames.

    Without ``lr_imgs`` (HR-only data, before ``vsr.Degrade``) only the HR
    frames are cropped, at a position on the LR pixel grid, which saves
    degrading whole frames. Bicubic downsampling of the crop then differs
    from a crop of the downsampled frame only within 2 LR pixels of the
    patch edges, where the kernel mirrors the patch instead of reading the
    neighbouring pixels.

    Args:
        gt_patch_size: Side of the square HR patch; must be a multiple of
            the sample's ``scale``.
    """

    def __init__(self, gt_patch_size: int) -> None:
        self.gt_patch_size = gt_patch_size

    def _origin(self, lr_h: int, lr_w: int, lr_patch: int,
                results: Dict) -> Tuple[int, int]:
        if lr_h < lr_patch or lr_w < lr_patch:
            raise ValueError(
                f'expected LR frames of at least {lr_patch}x{lr_patch} for '
                f'gt_patch_size {self.gt_patch_size}, got {lr_h}x{lr_w} in '
                f"{results.get('sequence')}; lower gt_patch_size")
        top = np.random.randint(0, lr_h - lr_patch + 1)
        left = np.random.randint(0, lr_w - lr_patch + 1)
        return top, left

    def transform(self, results: Dict) -> Dict:
        scale = int(results['scale'])
        if self.gt_patch_size % scale:
            raise ValueError(f'expected gt_patch_size divisible by the scale '
                             f'{scale}, got {self.gt_patch_size}')
        lr_patch = self.gt_patch_size // scale
        gt = results['gt_imgs']
        lr = results.get('lr_imgs')
        if lr is None:
            lr_h, lr_w = gt.shape[1] // scale, gt.shape[2] // scale
        else:
            lr_h, lr_w = lr.shape[1:3]
            if gt.shape[1:3] != (lr_h * scale, lr_w * scale):
                raise ValueError(
                    f'expected HR frames {scale}x the LR size {lr_h}x{lr_w},'
                    f' got {gt.shape[1]}x{gt.shape[2]} in '
                    f"{results.get('sequence')}")

        top, left = self._origin(lr_h, lr_w, lr_patch, results)
        if lr is not None:
            results['lr_imgs'] = lr[:, top:top + lr_patch,
                                    left:left + lr_patch]
        results['gt_imgs'] = gt[:, top * scale:(top + lr_patch) * scale,
                                left * scale:(left + lr_patch) * scale]
        return results


@TRANSFORMS.register_module()
class PairedFlip(BaseTransform):
    """Flip LR and HR frames (whichever are present) together with
    probability ``prob``.

    Args:
        direction: ``'horizontal'`` or ``'vertical'``.
        prob: Probability of flipping a clip.
    """

    def __init__(self, direction: str = 'horizontal', prob: float = 0.5) -> None:
        axes = {'horizontal': 2, 'vertical': 1}
        if direction not in axes:
            raise ValueError(f'expected direction in {sorted(axes)}, got '
                             f'{direction!r}')
        self.direction = direction
        self.axis = axes[direction]
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() < self.prob:
            for key in ('lr_imgs', 'gt_imgs'):
                if key in results:
                    results[key] = np.flip(results[key], axis=self.axis)
        return results


@TRANSFORMS.register_module()
class TemporalReverse(BaseTransform):
    """Reverse the frame order of LR, HR and ``frame_inds`` with
    probability ``prob``."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() < self.prob:
            for key in ('lr_imgs', 'gt_imgs'):
                if key in results:
                    results[key] = results[key][::-1]
            if 'frame_inds' in results:
                results['frame_inds'] = list(results['frame_inds'])[::-1]
        return results


def _to_tensor(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(
        np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))


@TRANSFORMS.register_module()
class PackVSRInputs(BaseTransform):
    """Pack a clip as ``{'inputs': uint8 (T, 3, h, w), 'data_samples':
    VSRDataSample}``; ``gt_imgs`` become ``gt_frames`` when present.

    Args:
        meta_keys: Keys of the sample dict copied into the data sample's
            meta information when present.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = ('sequence', 'scale',
                                             'frame_inds', 'fps',
                                             'sample_idx')
                 ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        lr = results['lr_imgs']
        sample = VSRDataSample()
        metainfo = {k: results[k] for k in self.meta_keys if k in results}
        metainfo['lr_shape'] = tuple(lr.shape[1:3])
        if 'gt_imgs' in results:
            sample.gt_frames = _to_tensor(results['gt_imgs'])
            metainfo['gt_shape'] = tuple(results['gt_imgs'].shape[1:3])
        sample.set_metainfo(metainfo)
        return dict(inputs=_to_tensor(lr), data_samples=sample)
