"""Temporal consistency and style metrics of stylized video.

Every number is computed from the frames the model returns and the flow of
the *input* frames, so per-frame stylization and temporally trained models
are measured the same way on the same clips.
"""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor

from vidft.models.ops import flow_warp

from .registry import LOSSES, METRICS

logger = logging.getLogger(__name__)


def warping_error_sums(current: Tensor, previous: Tensor, flow: Tensor,
                       valid_mask: Tensor) -> Tuple[float, float]:
    """Return the sum of ``|current - warp(previous)|`` over non-occluded
    pixels and channels, and the number of values summed.

    Args:
        current: Frames ``t``, ``(N, C, H, W)``, in the unit of the result.
        previous: Frames ``t - 1``, same shape.
        flow: Flow from frame ``t`` to ``t - 1``, ``(N, 2, H, W)``.
        valid_mask: ``(N, 1, H, W)``, 1 for non-occluded pixels.
    """
    warped = flow_warp(previous.float(), flow.float(), padding_mode='border')
    difference = (current.float() - warped).abs() * valid_mask
    count = valid_mask.sum() * current.shape[1]
    return float(difference.sum()), float(count)


@METRICS.register_module()
class StylizationMetric(BaseMetric):
    """Warping error, style loss and content loss of stylized frame pairs.

    Reads the data samples of ``VideoStylizer.predict`` (``pred_frames``
    ``(2, 3, H, W)`` in ``[0, 1]``, ``flow``, ``valid_mask``) and the input
    frames of the batch (uint8 ``(2, 3, H, W)``). Results:

    * ``warping_error``: mean absolute difference between the output at
      ``t`` and the output at ``t - 1`` warped by the flow of the input
      frames, over non-occluded pixels and the three channels, in 0-255
      grey levels. Pooled over all pixels of all pairs (each pair weighs by
      its count of non-occluded pixels).
    * ``input_warping_error``: the same for the input frames, the floor
      that flow errors and lighting changes set.
    * ``style_loss``: the unweighted style loss of the output at ``t``
      (:mod:`vidft_stylization.losses`), mean over pairs.
    * ``content_loss``: the unweighted content loss of the output at ``t``
      against the input at ``t``, mean over pairs.

    Results are gathered from all ranks by mmengine before
    :meth:`compute_metrics`, which runs on rank 0.

    Args:
        perceptual_loss: LOSSES config of ``stylization.PerceptualLoss``
            that defines the style and content losses; its weights are not
            used. Use the training config's one to compare like with like.
        device: Device the loss network runs on.
        collect_device: Passed to :class:`mmengine.evaluator.BaseMetric`.
        prefix: Passed to :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix = 'stylization'

    def __init__(self, perceptual_loss: dict, device: str = 'cpu',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.device = torch.device(device)
        self.loss = LOSSES.build(perceptual_loss).to(self.device)

    @torch.no_grad()
    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        inputs = data_batch['inputs']
        for frames, sample in zip(inputs, data_samples):
            if 'flow' not in sample or 'valid_mask' not in sample:
                raise KeyError('expected data samples with flow and '
                               'valid_mask; set with_flow=True in the '
                               'validation dataset')
            pred = sample['pred_frames'].to(self.device).float()
            frames = frames.to(self.device).float() / 255.0
            if pred.shape != frames.shape or pred.shape[0] != 2:
                raise ValueError(f'expected pred_frames and inputs of shape '
                                 f'(2, 3, H, W), got {tuple(pred.shape)} '
                                 f'and {tuple(frames.shape)}')
            flow = sample['flow'].to(self.device)[None]
            mask = sample['valid_mask'].to(self.device)[None]
            out_sum, count = warping_error_sums(
                pred[1:] * 255.0, pred[:1] * 255.0, flow, mask)
            in_sum, _ = warping_error_sums(frames[1:] * 255.0,
                                           frames[:1] * 255.0, flow, mask)
            losses = self.loss.compute(pred[1:], frames[1:])
            self.results.append(dict(
                warp_sum=out_sum, input_warp_sum=in_sum, count=count,
                style=float(losses['style']),
                content=float(losses['content'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        count = sum(r['count'] for r in results)
        if count == 0:
            logger.warning('No non-occluded pixels in %d pairs, so the '
                           'warping error is undefined (reported as nan)',
                           len(results))
            count = float('nan')
        return dict(
            warping_error=sum(r['warp_sum'] for r in results) / count,
            input_warping_error=sum(r['input_warp_sum']
                                    for r in results) / count,
            style_loss=sum(r['style'] for r in results) / len(results),
            content_loss=sum(r['content'] for r in results) / len(results))
