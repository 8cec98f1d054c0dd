"""Colour transforms: colour jitter and normalisation."""
from typing import Any, Dict, Sequence, Tuple, Union

import cv2
import numpy as np

from ...registry import TRANSFORMS
from .base import VideoTransform, get_frames

# ITU-R BT.601 luma weights for the grey level of RGB pixels.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _factor_range(value: Union[float, Tuple[float, float]], name: str,
                  center: float, max_delta: float) -> Tuple[float, float]:
    if isinstance(value, (int, float)):
        if not 0 <= value <= max_delta:
            raise ValueError(f'expected {name} in [0, {max_delta}], got '
                             f'{value!r}')
        return center - value, center + value
    low, high = value
    if not center - max_delta <= low <= high <= center + max_delta:
        raise ValueError(f'expected a {name} range within '
                         f'[{center - max_delta}, {center + max_delta}], got '
                         f'{value!r}')
    return float(low), float(high)


@TRANSFORMS.register_module()
class ColorJitter(VideoTransform):
    """Change brightness, contrast, saturation and hue by random factors,
    the same factors and order for all frames of a sample.

    The four operations run in a random order, as in torchvision's
    ``ColorJitter``, on ``float32`` values in [0, 255]:

    * brightness ``b``: ``x * b``;
    * contrast ``c``: blend with the mean grey level of the whole sample,
      ``c * x + (1 - c) * mean``;
    * saturation ``s``: blend with each pixel's grey level (BT.601 luma);
    * hue ``h``: rotate the hue by ``h`` turns in OpenCV's HSV space (after
      rounding to ``uint8``, which the conversion needs).

    Args:
        brightness, contrast, saturation: ``x`` for factors drawn uniformly
            from ``[1 - x, 1 + x]`` (``x`` in [0, 1]), or a ``(low, high)``
            range within [0, 2].
        hue: ``x`` for a rotation drawn from ``[-x, x]`` turns (``x`` in
            [0, 0.5]), or a ``(low, high)`` range within [-0.5, 0.5].

    Adds ``color_jitter`` (the factors and order used).
    """

    def __init__(self, brightness: Union[float, Tuple[float, float]] = 0.5,
                 contrast: Union[float, Tuple[float, float]] = 0.5,
                 saturation: Union[float, Tuple[float, float]] = 0.5,
                 hue: Union[float, Tuple[float, float]] = 0.1) -> None:
        self.brightness = _factor_range(brightness, 'brightness', 1, 1)
        self.contrast = _factor_range(contrast, 'contrast', 1, 1)
        self.saturation = _factor_range(saturation, 'saturation', 1, 1)
        self.hue = _factor_range(hue, 'hue', 0, 0.5)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'ColorJitter')
        if frames.shape[-1] != 3:
            raise ValueError(f'ColorJitter expected RGB frames, got '
                             f'{frames.shape[-1]} channels')
        factors = {
            'brightness': np.random.uniform(*self.brightness),
            'contrast': np.random.uniform(*self.contrast),
            'saturation': np.random.uniform(*self.saturation),
            'hue': np.random.uniform(*self.hue),
        }
        order = [list(factors)[i] for i in np.random.permutation(4)]

        values = frames.astype(np.float32)
        for name in order:
            # Skipping no-op factors keeps the lossy uint8 HSV round trip of
            # the hue step out of clips that get no hue change.
            if factors[name] != (0 if name == 'hue' else 1):
                values = getattr(self, f'_adjust_{name}')(values,
                                                          factors[name])
        results['imgs'] = np.clip(np.round(values), 0, 255).astype(np.uint8)
        results['color_jitter'] = dict(factors, order=order)
        return results

    @staticmethod
    def _adjust_brightness(values: np.ndarray, factor: float) -> np.ndarray:
        return values * factor

    @staticmethod
    def _adjust_contrast(values: np.ndarray, factor: float) -> np.ndarray:
        mean = float((values @ LUMA_WEIGHTS).mean())
        return factor * values + (1 - factor) * mean

    @staticmethod
    def _adjust_saturation(values: np.ndarray, factor: float) -> np.ndarray:
        grey = (values @ LUMA_WEIGHTS)[..., None]
        return factor * values + (1 - factor) * grey

    @staticmethod
    def _adjust_hue(values: np.ndarray, turns: float) -> np.ndarray:
        shift = int(round(turns * 180))  # OpenCV's uint8 hue spans [0, 180)
        if shift == 0:
            return values
        frames = np.clip(np.round(values), 0, 255).astype(np.uint8)
        shifted = []
        for frame in frames:
            hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0].astype(np.int32) + shift) % 180
            shifted.append(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB))
        return np.stack(shifted).astype(np.float32)


@TRANSFORMS.register_module()
class Normalize(VideoTransform):
    """Normalise frames to ``float32`` as ``(x - mean) / std`` per channel.

    Most configs normalise in the model's ``VideoDataPreprocessor`` instead,
    which does it on the device; use this transform when the data pipeline
    must output normalised values.

    Args:
        mean: Per-channel mean in 0-255 units, RGB order.
        std: Per-channel standard deviation in 0-255 units.

    Adds ``img_norm_cfg``.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != len(std):
            raise ValueError(f'expected mean and std of the same length, got '
                             f'{len(mean)} and {len(std)}')
        if min(std) <= 0:
            raise ValueError(f'expected a positive std, got {list(std)}')
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    def transform(self, results: Dict[str, Any]) -> Dict[str, Any]:
        frames = get_frames(results, 'Normalize')
        if frames.shape[-1] != len(self.mean):
            raise ValueError(f'Normalize has {len(self.mean)} channel means, '
                             f'but the frames have {frames.shape[-1]} '
                             'channels')
        results['imgs'] = (frames.astype(np.float32) - self.mean) / self.std
        results['img_norm_cfg'] = dict(mean=self.mean.tolist(),
                                       std=self.std.tolist())
        return results
