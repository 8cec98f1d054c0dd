"""PSNR, SSIM and interpolation error (IE) of interpolated frames."""
import logging
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from vidft.evaluation.image_quality import calculate_psnr, calculate_ssim, to_uint8

from .registry import METRICS

logger = logging.getLogger(__name__)

# ITU-R BT.601 luma weights for the grey level of IE.
_GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def interpolation_error(image: np.ndarray, reference: np.ndarray) -> float:
    """Return the IE of two uint8 RGB images (H, W, 3), in grey levels 0-255.

    IE is the root-mean-square difference of the grey images, and the grey
    level is the BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` (not rounded).
    This is the grey-level interpolation error of the Middlebury benchmark.
    Some papers take the RMS over the RGB channels instead, which gives
    different numbers.
    """
    if image.shape != reference.shape or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected two RGB images of one shape (H, W, 3), got '
                         f'{image.shape} and {reference.shape}')
    grey = image.astype(np.float64) @ _GREY_WEIGHTS
    grey_ref = reference.astype(np.float64) @ _GREY_WEIGHTS
    return float(np.sqrt(np.mean((grey - grey_ref) ** 2)))


def _frame(value: Any) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu()
        if value.dim() == 3 and value.shape[0] == 3:
            value = value.permute(1, 2, 0)
        value = value.numpy()
    return to_uint8(value)


def _scores(pred: np.ndarray, gt: np.ndarray) -> Dict[str, float]:
    return dict(PSNR=calculate_psnr(pred, gt, channel='rgb', data_range=255.0),
                SSIM=calculate_ssim(pred, gt, channel='rgb', data_range=255.0),
                IE=interpolation_error(pred, gt))


@METRICS.register_module()
class InterpolationMetric(BaseMetric):
    """PSNR, SSIM and IE of ``pred_frame`` against ``gt_frame``, mean over samples.

    Conventions: predictions in [0, 1] are scaled to 0-255 and rounded to
    uint8 first, as saved frames would be. PSNR is computed on all three RGB
    channels together with a peak of 255, which equals PSNR on RGB in
    [0, 1], the number most papers report on Vimeo-90K. SSIM is the mean of
    the three per-channel SSIMs (11x11 Gaussian window, sigma 1.5) of
    :func:`vidft.evaluation.image_quality.calculate_ssim`; papers that use
    a MATLAB-style SSIM report slightly different values. IE is
    :func:`interpolation_error`. Each score is the mean over all samples,
    gathered from every rank (mmengine's ``collect_results``). A prediction
    identical to its target has infinite PSNR, which makes the mean
    infinite.

    With ``frame_averaging_baseline=True`` the same three scores are also
    computed for the frame-averaging prediction ``(1 - t) * frame0 + t *
    frame1`` of every sample, read from the batch's ``inputs``, and reported
    as ``PSNR_frame_averaging`` and so on, so that a log shows both.

    Args:
        frame_averaging_baseline: Also score frame averaging.
        collect_device: Device used to gather results across ranks.
        prefix: Prefix of the metric names (default ``'interp'``).
    """

    default_prefix: Optional[str] = 'interp'

    def __init__(self, frame_averaging_baseline: bool = False, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.frame_averaging_baseline = frame_averaging_baseline

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
        if self.frame_averaging_baseline and inputs is None:
            raise KeyError("frame_averaging_baseline=True needs the batch's 'inputs'; "
                           'set it to False when the batch has none')
        for index, sample in enumerate(data_samples):
            if not isinstance(sample, dict):
                sample = sample.to_dict()
            if 'pred_frame' not in sample or 'gt_frame' not in sample:
                raise KeyError("expected 'pred_frame' and 'gt_frame' in every data "
                               "sample; run the model in mode='predict' on samples "
                               'packed by interpolation.PackInterpolationInputs')
            gt = _frame(sample['gt_frame'])
            result = _scores(_frame(sample['pred_frame']), gt)
            if self.frame_averaging_baseline:
                pair = inputs[index].detach().cpu().float() / 255.0
                t = float(sample.get('metainfo', sample).get('timestep', 0.5))
                blend = (1.0 - t) * pair[0] + t * pair[1]
                baseline = _scores(_frame(blend), gt)
                result.update({f'{k}_frame_averaging': v for k, v in baseline.items()})
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        metrics = {key: float(np.mean([r[key] for r in results])) for key in results[0]}
        logger.info('interpolation metrics over %d samples (RGB, 0-255 after rounding): '
                    'PSNR %.3f dB, SSIM %.4f, IE %.3f', len(results), metrics['PSNR'],
                    metrics['SSIM'], metrics['IE'])
        if 'PSNR_frame_averaging' in metrics:
            logger.info('frame averaging on the same samples: PSNR %.3f dB, SSIM %.4f, '
                        'IE %.3f', metrics['PSNR_frame_averaging'],
                        metrics['SSIM_frame_averaging'], metrics['IE_frame_averaging'])
        return metrics
