"""The data preprocessor of video models: batch, move, normalise."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor

from ..registry import MODELS

# Dimensions of one batch for each input format, with and without the view
# dimension (FormatShape(collapse=True) drops it), and the channel axis
# counted from the end.
_LAYOUTS = {
    'NCHW': dict(ndims=(5, ), channel_axis=-3),
    'NCTHW': dict(ndims=(6, 5), channel_axis=-4),
    'NTCHW': dict(ndims=(6, 5), channel_axis=-3),
}


@MODELS.register_module()
class VideoDataPreprocessor(BaseDataPreprocessor):
    """Stack the samples of a batch, move them to the model's device, convert
    them to ``float32`` and normalise them.

    Inputs of one sample come from ``FormatShape(input_format)``; the batch
    gets a leading batch dimension:

    * 'NCHW': ``(B, N, C, H, W)``, ``N`` frames per sample (all views);
    * 'NCTHW': ``(B, M, C, T, H, W)``, ``M`` views (clips x crops) per sample;
    * 'NTCHW': ``(B, M, T, C, H, W)``.

    The model folds the view dimension into the batch and averages the view
    scores in ``predict``. Samples packed with ``FormatShape(collapse=True)``
    arrive without the view dimension, and stay that way.

    The uint8 frames are moved before the float conversion, which makes the
    host-to-device copy four times smaller.

    Args:
        mean: Per-channel mean in 0-255 units (RGB, like mmaction2's
            ``[123.675, 116.28, 103.53]`` for ImageNet), or ``None`` to skip
            normalisation.
        std: Per-channel standard deviation in 0-255 units, or ``None``.
        format_shape: The ``input_format`` of the pipeline's FormatShape.
        non_blocking: Copy to the device without blocking.
    """

    def __init__(self, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 format_shape: str = 'NCTHW',
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if format_shape not in _LAYOUTS:
            raise ValueError(f'expected format_shape in {sorted(_LAYOUTS)}, '
                             f'got {format_shape!r}')
        if (mean is None) != (std is None):
            raise ValueError('expected both mean and std, or neither; got '
                             f'mean={mean!r}, std={std!r}')
        self.format_shape = format_shape
        self.normalize = mean is not None
        if self.normalize:
            if len(mean) != len(std):
                raise ValueError(f'expected mean and std of the same length, '
                                 f'got {len(mean)} and {len(std)}')
            if min(std) <= 0:
                raise ValueError(f'expected a positive std, got {list(std)}')
            axis = _LAYOUTS[format_shape]['channel_axis']
            shape = (-1, ) + (1, ) * (-axis - 1)
            self.register_buffer(
                'mean', torch.tensor(mean, dtype=torch.float32).view(shape),
                persistent=False)
            self.register_buffer(
                'std', torch.tensor(std, dtype=torch.float32).view(shape),
                persistent=False)

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """Return ``{'inputs': float batch, 'data_samples': list or None}``."""
        data = self.cast_data(data)
        inputs = self._stack(data['inputs'])
        expected = _LAYOUTS[self.format_shape]['ndims']
        if inputs.ndim not in expected:
            raise ValueError(
                f'VideoDataPreprocessor(format_shape={self.format_shape!r}) '
                f'expected a batch with {" or ".join(map(str, expected))} '
                f'dimensions, got shape {tuple(inputs.shape)}. Set '
                'format_shape to the input_format of FormatShape in the data '
                'pipeline.')

        inputs = inputs.float()
        if self.normalize:
            axis = _LAYOUTS[self.format_shape]['channel_axis']
            channels = inputs.shape[axis]
            if channels != self.mean.numel():
                raise ValueError(f'expected inputs with {self.mean.numel()} '
                                 f'channels to match mean and std, got '
                                 f'{channels} (shape {tuple(inputs.shape)})')
            inputs = (inputs - self.mean) / self.std
        return dict(inputs=inputs, data_samples=data.get('data_samples'))

    @staticmethod
    def _stack(inputs: Union[torch.Tensor, List[torch.Tensor]]
               ) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            return inputs
        shapes = {tuple(sample.shape) for sample in inputs}
        if len(shapes) > 1:
            raise ValueError(f'expected samples of one shape to stack into a '
                             f'batch, got {sorted(shapes)}. Crop or resize to '
                             'a fixed size in the data pipeline.')
        return torch.stack(inputs)
