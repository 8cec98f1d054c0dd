"""The model contract shared by every VSR model, and its data preprocessor."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor, BaseModel
from torch import Tensor, nn

# Registers CharbonnierLoss, the default loss of the VSR models.
import vidft.models.losses.charbonnier  # noqa: F401
from vidft.registry import LOSSES
from vidft.registry import MODELS as VIDFT_MODELS

from ..registry import MODELS
from ..structures import VSRDataSample

ModelOutput = Union[Tensor, Dict[str, Tensor], List[VSRDataSample]]


@MODELS.register_module()
class VSRDataPreprocessor(BaseDataPreprocessor):
    """Move a batch to the model's device and scale LR frames to ``[0, 1]``.

    ``inputs`` (uint8 ``(T, 3, h, w)`` per clip, as a list or a stacked
    tensor) become one float tensor ``(B, T, 3, h, w)``. The ground truth stays
    uint8 in the data samples; the model scales it when it needs it.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(clip.shape) for clip in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    f'expected clips of one shape in a batch, got '
                    f'{sorted(shapes)}; crop training clips with '
                    'vsr.PairedRandomCrop or use batch_size=1 for '
                    'validation')
            inputs = torch.stack(list(inputs))
        if inputs.dim() != 5:
            raise ValueError(f'expected inputs (B, T, 3, h, w), got shape '
                             f'{tuple(inputs.shape)}')
        inputs = inputs.float() / 255.0
        return dict(inputs=inputs, data_samples=data.get('data_samples'))


class VSRModel(BaseModel):
    """Base of the VSR models (mmengine ``BaseModel`` contract).

    Subclasses implement :meth:`upscale`. ``forward`` modes:

    * ``'tensor'``: the upscaled clip ``(B, T, 3, s h, s w)``, float;
    * ``'loss'``: ``{'loss': ...}`` between the output and ``gt_frames``;
    * ``'predict'``: the data samples with ``pred_frames`` (float in
      ``[0, 1]``, clamped) set, one per clip.

    Args:
        scale: Upscaling factor.
        loss: Config of the pixel loss (vidft LOSSES); ``None`` for a model
            that is never trained.
        data_preprocessor: Config of the data preprocessor.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 scale: int,
                 loss: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='vsr.VSRDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here because mmengine's root registry, which BaseModel
            # uses, does not find 'vsr.' names outside a runner's scope.
            data_preprocessor = VIDFT_MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.scale = scale
        self.loss_module = LOSSES.build(loss) if loss is not None else None

    def upscale(self, lrs: Tensor) -> Tensor:
        """Upscale ``lrs`` ``(B, T, 3, h, w)`` in ``[0, 1]`` by
        :attr:`scale`."""
        raise NotImplementedError

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[VSRDataSample]] = None,
                mode: str = 'tensor') -> ModelOutput:
        if mode == 'tensor':
            return self.upscale(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"expected mode 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')

    def _ground_truth(self, inputs: Tensor,
                      data_samples: Optional[Sequence[VSRDataSample]]
                      ) -> Tensor:
        if not data_samples or 'gt_frames' not in data_samples[0]:
            raise ValueError('expected data samples with gt_frames for the '
                             "loss; pack the HR frames (gt_imgs) with "
                             'vsr.PackVSRInputs')
        gt = torch.stack([s.gt_frames for s in data_samples]).to(inputs)
        expected = (*inputs.shape[:3], inputs.shape[3] * self.scale,
                    inputs.shape[4] * self.scale)
        if tuple(gt.shape) != expected:
            raise ValueError(
                f'expected HR frames of shape {expected} (scale '
                f'{self.scale}), got {tuple(gt.shape)}; check the scale of '
                'the model and of the dataset')
        return gt / 255.0

    def loss(self, inputs: Tensor,
             data_samples: Optional[Sequence[VSRDataSample]]
             ) -> Dict[str, Tensor]:
        if self.loss_module is None:
            raise RuntimeError(f'{type(self).__name__} was built with '
                               'loss=None and cannot be trained; set loss in '
                               'the model config')
        gt = self._ground_truth(inputs, data_samples)
        return dict(loss=self.loss_module(self.upscale(inputs), gt))

    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[VSRDataSample]]
                ) -> List[VSRDataSample]:
        outputs = self.upscale(inputs).clamp(0.0, 1.0)
        if data_samples is None:
            data_samples = [VSRDataSample() for _ in range(len(outputs))]
        for sample, output in zip(data_samples, outputs):
            sample.pred_frames = output.detach()
            if 'scale' not in sample:
                sample.set_metainfo(dict(scale=self.scale))
        return list(data_samples)
