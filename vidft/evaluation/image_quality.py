"""PSNR and SSIM computed as the super-resolution literature reports them.

Conventions (BasicVSR, EDVR and the mmagic / BasicSR evaluation code):

* Images are 8-bit RGB, ``(H, W, 3)``. Float model outputs in ``[0, 1]`` are
  multiplied by 255 and rounded to uint8 first (:func:`to_uint8`).
* ``channel='y'`` evaluates the luma of ITU-R BT.601 YCbCr, on the 8-bit
  studio range: ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` with R, G,
  B in ``[0, 1]``, so Y lies in ``[16, 235]``; Y is not rounded.
  ``channel='rgb'`` evaluates the three colour channels together.
* ``crop_border`` pixels are removed from each side before evaluation; the
  literature crops as many pixels as the scale factor.
* ``data_range`` is the peak value of the signal (255 for 8-bit images).
* SSIM (Wang et al., IEEE TIP 2004) uses an 11x11 Gaussian window with
  sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, population (not sample)
  covariances, and averages the SSIM map over the positions where the window
  lies inside the image. For RGB it averages the three channel SSIMs. This
  matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False)``.
"""
import logging
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vidft.registry import METRICS

_CHANNELS = ('y', 'rgb')
SSIM_WINDOW_SIZE = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

ArrayLike = Union[np.ndarray, Any]


def to_uint8(image: ArrayLike) -> np.ndarray:
    """Convert an image to uint8 ``(H, W, C)``.

    uint8 input is returned as is. Float input (a numpy array or a torch
    tensor) is read as ``[0, 1]``, scaled to ``[0, 255]``, rounded (ties to
    even, as numpy does) and clipped. Tensors in ``(C, H, W)`` layout (3
    channels first) are moved to channels last.
    """
    if hasattr(image, 'detach'):  # a torch tensor
        image = image.detach().cpu()
        if image.dim() == 3 and image.shape[0] == 3 and image.shape[-1] != 3:
            image = image.permute(1, 2, 0)
        image = image.numpy()
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f'expected a uint8 image or a float image in [0, 1], '
                        f'got dtype {image.dtype}')
    return np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """Return the BT.601 luma of an RGB image in ``[0, 255]``, as float64
    ``(H, W)`` in ``[16, 235]``."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an RGB image of shape (H, W, 3), got '
                         f'{image.shape}')
    rgb = image.astype(np.float64) / 255.0
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] +
                   24.966 * rgb[..., 2])


def _prepare(image: np.ndarray, reference: np.ndarray, crop_border: int,
             channel: str) -> tuple:
    if image.shape != reference.shape:
        raise ValueError(f'expected images of one shape, got {image.shape} '
                         f'and {reference.shape}')
    if channel not in _CHANNELS:
        raise ValueError(f'expected channel in {_CHANNELS}, got {channel!r}')
    if crop_border < 0:
        raise ValueError(f'expected crop_border >= 0, got {crop_border}')
    height, width = image.shape[:2]
    if 2 * crop_border >= min(height, width):
        raise ValueError(f'crop_border {crop_border} leaves nothing of a '
                         f'{height}x{width} image; lower crop_border')
    if channel == 'y':
        image, reference = rgb_to_y(image), rgb_to_y(reference)
    else:
        image = image.astype(np.float64)
        reference = reference.astype(np.float64)
    if crop_border:
        image = image[crop_border:-crop_border, crop_border:-crop_border]
        reference = reference[crop_border:-crop_border,
                              crop_border:-crop_border]
    return image, reference


def calculate_psnr(image: np.ndarray,
                   reference: np.ndarray,
                   crop_border: int = 0,
                   channel: str = 'y',
                   data_range: float = 255.0) -> float:
    """Return the PSNR in dB of ``image`` against ``reference``.

    Both are uint8 RGB ``(H, W, 3)`` (see the module docstring for the
    conventions). Identical images give ``inf``.
    """
    image, reference = _prepare(image, reference, crop_border, channel)
    mse = np.mean((image - reference)**2)
    if mse == 0:
        return float('inf')
    return float(10.0 * np.log10(data_range**2 / mse))


def _gaussian_window() -> np.ndarray:
    radius = SSIM_WINDOW_SIZE // 2
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-offsets**2 / (2 * SSIM_SIGMA**2))
    kernel /= kernel.sum()
    return np.outer(kernel, kernel)


def _ssim_single_channel(image: np.ndarray, reference: np.ndarray,
                         data_range: float) -> float:
    c1 = (SSIM_K1 * data_range)**2
    c2 = (SSIM_K2 * data_range)**2
    window = _gaussian_window()
    radius = SSIM_WINDOW_SIZE // 2

    def local_mean(values: np.ndarray) -> np.ndarray:
        # Keep only positions where the whole window lies inside the image.
        filtered = cv2.filter2D(values, -1, window,
                                borderType=cv2.BORDER_REFLECT)
        return filtered[radius:-radius, radius:-radius]

    mu_x = local_mean(image)
    mu_y = local_mean(reference)
    var_x = local_mean(image * image) - mu_x**2
    var_y = local_mean(reference * reference) - mu_y**2
    cov_xy = local_mean(image * reference) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2) /
                ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)))
    return float(ssim_map.mean())


def calculate_ssim(image: np.ndarray,
                   reference: np.ndarray,
                   crop_border: int = 0,
                   channel: str = 'y',
                   data_range: float = 255.0) -> float:
    """Return the SSIM of ``image`` against ``reference``.

    Both are uint8 RGB ``(H, W, 3)``; after cropping each side must keep at
    least 11 pixels for the Gaussian window.
    """
    image, reference = _prepare(image, reference, crop_border, channel)
    if min(image.shape[:2]) < SSIM_WINDOW_SIZE:
        raise ValueError(
            f'expected at least {SSIM_WINDOW_SIZE}x{SSIM_WINDOW_SIZE} pixels '
            f'after cropping for the SSIM window, got {image.shape[:2]}; '
            'lower crop_border or evaluate larger images')
    if image.ndim == 2:
        return _ssim_single_channel(image, reference, data_range)
    return float(
        np.mean([
            _ssim_single_channel(image[..., c], reference[..., c], data_range)
            for c in range(image.shape[2])
        ]))


class _SequenceImageMetric(BaseMetric):
    """Evaluate every frame of every sequence; report per-sequence means and
    the mean over sequences.

    Each data sample (a dict from ``BaseDataElement.to_dict()`` or the element
    itself) carries ``pred_frames`` and ``gt_frames``: ``(T, 3, H, W)`` or
    ``(3, H, W)`` tensors or arrays, uint8 or float in ``[0, 1]``. Optional
    keys: ``sequence`` (name used in the per-sequence keys, default the
    sample's position) and ``scale`` (used when ``crop_border`` is None).

    Keys of the result (after ``prefix``, which defaults to the settings,
    e.g. ``Y-crop4-range255``): ``<NAME>`` is the mean over sequences of the
    per-sequence frame means, ``<NAME>_frames`` the mean over all frames and
    ``<NAME>/<sequence>`` each sequence's mean. Metrics are gathered from all
    ranks and computed on rank 0.
    """

    metric_name = ''

    def __init__(self,
                 channel: str = 'y',
                 crop_border: Optional[int] = None,
                 data_range: float = 255.0,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        if channel not in _CHANNELS:
            raise ValueError(f'expected channel in {_CHANNELS}, got '
                             f'{channel!r}')
        if crop_border is not None and crop_border < 0:
            raise ValueError(f'expected crop_border >= 0 or None (the '
                             f'scale), got {crop_border}')
        self.channel = channel
        self.crop_border = crop_border
        self.data_range = data_range
        self._user_prefix = prefix
        if prefix is None:
            # With crop_border=None the prefix is completed once the scale
            # of the data samples is known, in compute_metrics.
            prefix = self._settings_prefix(
                ['scale' if crop_border is None else crop_border])
        super().__init__(collect_device=collect_device, prefix=prefix)

    def _settings_prefix(self, crop_borders: Sequence[int]) -> str:
        return (f'{self.channel.upper()}-crop'
                f"{'/'.join(map(str, crop_borders))}-range"
                f'{self.data_range:g}')

    def _score(self, image: np.ndarray, reference: np.ndarray,
               crop_border: int) -> float:
        raise NotImplementedError

    def _crop_border_for(self, sample: Dict[str, Any]) -> int:
        if self.crop_border is not None:
            return self.crop_border
        scale = sample.get('scale', sample.get('metainfo', {}).get('scale'))
        if scale is None:
            raise KeyError(
                f'{self.metric_name} has crop_border=None, which means the '
                "scale factor, but the data sample has no 'scale'; set "
                'crop_border in the metric config')
        return int(scale)

    @staticmethod
    def _frames(value: ArrayLike) -> List[np.ndarray]:
        if hasattr(value, 'detach'):
            value = value.detach().cpu()
        if value.ndim == 3:
            value = value[None]
        frames = []
        for frame in value:
            if hasattr(frame, 'permute'):
                frame = frame.permute(1, 2, 0)
            else:
                frame = np.transpose(frame, (1, 2, 0))
            frames.append(to_uint8(frame))
        return frames

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        for sample in data_samples:
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            crop_border = self._crop_border_for(sample)
            predictions = self._frames(sample['pred_frames'])
            references = self._frames(sample['gt_frames'])
            if len(predictions) != len(references):
                raise ValueError(
                    f'expected as many predicted as ground-truth frames, got '
                    f'{len(predictions)} and {len(references)}')
            scores = [
                self._score(pred, gt, crop_border)
                for pred, gt in zip(predictions, references)
            ]
            # One entry per data sample: collect_results keeps exactly as
            # many entries as the dataset has samples.
            self.results.append(
                dict(
                    sequence=sample.get('sequence'),
                    crop_border=crop_border,
                    scores=scores))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        per_sequence: Dict[str, List[float]] = OrderedDict()
        for index, result in enumerate(results):
            name = result['sequence']
            name = str(index) if name is None else str(name)
            per_sequence.setdefault(name, []).extend(result['scores'])

        crop_borders = sorted({r['crop_border'] for r in results})
        if self._user_prefix is None:
            self.prefix = self._settings_prefix(crop_borders)

        name = self.metric_name
        sequence_means = {
            seq: float(np.mean(scores)) for seq, scores in per_sequence.items()
        }
        all_frames = [s for scores in per_sequence.values() for s in scores]
        metrics: Dict[str, float] = {
            name: float(np.mean(list(sequence_means.values()))),
            f'{name}_frames': float(np.mean(all_frames)),
        }
        for seq, value in sequence_means.items():
            metrics[f'{name}/{seq}'] = value

        MMLogger.get_current_instance().log(
            logging.INFO,
            f'{name} on the {self.channel.upper()} channel, crop border '
            f'{crop_borders}, data range {self.data_range:g}: '
            f'{metrics[name]:.4f} mean over {len(sequence_means)} sequences '
            f'({len(all_frames)} frames)')
        return metrics


@METRICS.register_module()
class PSNR(_SequenceImageMetric):
    """Peak signal-to-noise ratio in dB (conventions in the module
    docstring). A frame identical to its reference scores ``inf``."""

    metric_name = 'PSNR'

    def _score(self, image: np.ndarray, reference: np.ndarray,
               crop_border: int) -> float:
        return calculate_psnr(image, reference, crop_border, self.channel,
                              self.data_range)


@METRICS.register_module()
class SSIM(_SequenceImageMetric):
    """Structural similarity (conventions in the module docstring)."""

    metric_name = 'SSIM'

    def _score(self, image: np.ndarray, reference: np.ndarray,
               crop_border: int) -> float:
        return calculate_ssim(image, reference, crop_border, self.channel,
                              self.data_range)
