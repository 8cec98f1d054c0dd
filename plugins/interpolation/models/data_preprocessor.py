"""Batching of frame pairs and ground-truth frames for interpolation models."""
from typing import Any, Dict

import torch
from mmengine.model import BaseDataPreprocessor

from ..registry import MODELS

#: Divisor that maps uint8 pixel values to the [0, 1] range the models use.
PIXEL_SCALE = 255.0


@MODELS.register_module()
class InterpolationDataPreprocessor(BaseDataPreprocessor):
    """Stack, move and scale interpolation samples to float in [0, 1].

    Input (from ``interpolation.PackInterpolationInputs``): ``inputs`` is a
    list of uint8 tensors of shape (2, 3, H, W), the two input frames in
    temporal order. Each data sample may carry ``gt_frame``, a uint8 tensor
    of shape (3, H, W). Output: ``inputs`` of shape (N, 2, 3, H, W) and the
    data samples with ``gt_frame`` replaced by float32 in [0, 1] on the
    model's device. Every sample of a batch must have the same size.
    """

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(frames.shape) for frames in inputs}
            if len(shapes) > 1:
                raise ValueError(
                    f'expected frame pairs of one shape in a batch, got '
                    f'{sorted(shapes)}; crop the training samples to a fixed '
                    'size (interpolation.RandomCropTuple) or use batch_size=1 '
                    'for validation')
            inputs = torch.stack(list(inputs))
        if inputs.dim() != 5 or inputs.shape[1] != 2:
            raise ValueError(f'expected inputs of shape (N, 2, C, H, W), got '
                             f'{tuple(inputs.shape)}')
        inputs = inputs.float() / PIXEL_SCALE

        data_samples = data.get('data_samples')
        for sample in data_samples or []:
            if 'gt_frame' in sample and not sample.gt_frame.is_floating_point():
                sample.gt_frame = sample.gt_frame.float() / PIXEL_SCALE
        return {'inputs': inputs, 'data_samples': data_samples}
