"""The video stylization model (mmengine ``BaseModel`` contract) and its
data preprocessor."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor, BaseModel
from torch import Tensor, nn

from vidft.registry import LOSSES
from vidft.registry import MODELS as VIDFT_MODELS

from ..losses import temporal_loss
from ..registry import MODELS
from ..structures import StylizationDataSample

ModelOutput = Union[Tensor, Dict[str, Tensor], List[StylizationDataSample]]


@MODELS.register_module()
class StylizationDataPreprocessor(BaseDataPreprocessor):
    """Move a batch to the model's device and scale frames to ``[0, 1]``.

    ``inputs`` (uint8 ``(T, 3, H, W)`` per sample, as a list or a stacked
    tensor) become one float tensor ``(B, T, 3, H, W)``. The data samples
    (flow, mask) move to the device too.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(item.shape) for item in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    f'expected inputs of one shape in a batch, got '
                    f'{sorted(shapes)}; set frame_size in the dataset, add '
                    'stylization.PairRandomCrop, or use batch_size=1')
            inputs = torch.stack(list(inputs))
        if inputs.dim() != 5 or inputs.shape[2] != 3:
            raise ValueError(f'expected inputs (B, T, 3, H, W), got shape '
                             f'{tuple(inputs.shape)}')
        return dict(inputs=inputs.float() / 255.0,
                    data_samples=data.get('data_samples'))


@MODELS.register_module()
class VideoStylizer(BaseModel):
    """Frame-by-frame video style transfer with an optional temporal loss.

    The transformation network stylizes every frame on its own. Training
    adds up the perceptual losses of every frame of each pair (content,
    style, total variation; :class:`~vidft_stylization.losses.
    PerceptualLoss`) and, when ``temporal_weight > 0``, the temporal loss
    between the output at ``t`` and the output at ``t - 1`` warped by the
    flow of the input frames, over non-occluded pixels (ReCoNet's
    output-level temporal loss; its feature-level temporal loss is not
    used). ``temporal_weight=0`` gives per-frame (image) training.

    ``forward`` modes, with ``inputs`` ``(B, T, 3, H, W)`` in ``[0, 1]``:

    * ``'tensor'``: the stylized frames, same shape, in ``[0, 1]``;
    * ``'loss'``: ``loss_content``, ``loss_style``, ``loss_tv`` (with a
      positive ``tv_weight``) and ``loss_temporal`` (with a positive
      ``temporal_weight``; needs ``T == 2`` and data samples with ``flow``
      and ``valid_mask``);
    * ``'predict'``: the data samples with ``pred_frames`` set.

    A network of this kind learns one style, so :attr:`takes_style_image`
    is False: a new style needs fine-tuning with a new ``style_image``.

    Args:
        transformer: MODELS config of the image transformation network
            (``dict(type='stylization.TransformerNet', base_channels=32,
            num_res_blocks=5)``).
        perceptual_loss: LOSSES config of ``stylization.PerceptualLoss``;
            None for a model only used for inference.
        temporal_weight: Factor of the temporal loss.
        data_preprocessor: Config of the data preprocessor; defaults to
            ``stylization.StylizationDataPreprocessor``.
        init_cfg: mmengine initialisation config.
    """

    #: Whether ``stylize`` accepts a style image at inference time.
    takes_style_image = False

    def __init__(self,
                 transformer: Union[dict, nn.Module],
                 perceptual_loss: Optional[dict] = None,
                 temporal_weight: float = 0.0,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='stylization.StylizationDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here because mmengine's root registry, which BaseModel
            # uses, does not find 'stylization.' names outside a runner.
            data_preprocessor = VIDFT_MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if temporal_weight < 0:
            raise ValueError(f'expected temporal_weight >= 0, got '
                             f'{temporal_weight}')
        self.transformer = (VIDFT_MODELS.build(transformer) if isinstance(
            transformer, dict) else transformer)
        self.perceptual_loss = (LOSSES.build(perceptual_loss)
                                if perceptual_loss is not None else None)
        self.temporal_weight = float(temporal_weight)

    def stylize(self, frames: Tensor) -> Tensor:
        """Stylize RGB frames ``(..., 3, H, W)`` in ``[0, 1]``."""
        shape = frames.shape
        output = self.transformer(frames.reshape(-1, *shape[-3:]))
        return output.reshape(shape)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[StylizationDataSample]] = None,
                mode: str = 'tensor') -> ModelOutput:
        if mode == 'tensor':
            return self.stylize(inputs)
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise ValueError(f"expected mode 'loss', 'predict' or 'tensor', got "
                         f'{mode!r}')

    def loss(self, inputs: Tensor,
             data_samples: Optional[Sequence[StylizationDataSample]]
             ) -> Dict[str, Tensor]:
        if self.perceptual_loss is None:
            raise RuntimeError('VideoStylizer was built with '
                               'perceptual_loss=None and cannot be trained; '
                               'set perceptual_loss in the model config')
        outputs = self.stylize(inputs)
        frames = inputs.reshape(-1, *inputs.shape[-3:])
        losses = self.perceptual_loss(
            outputs.reshape(-1, *outputs.shape[-3:]), frames)
        if self.temporal_weight > 0:
            losses['loss_temporal'] = self.temporal_weight * \
                self._temporal_loss(outputs, data_samples)
        return losses

    def _temporal_loss(self, outputs: Tensor,
                       data_samples: Optional[Sequence[StylizationDataSample]]
                       ) -> Tensor:
        if outputs.dim() != 5 or outputs.shape[1] != 2:
            raise ValueError(f'expected frame pairs (B, 2, 3, H, W) for the '
                             f'temporal loss, got {tuple(outputs.shape)}')
        if not data_samples or 'flow' not in data_samples[0]:
            raise ValueError(
                'expected data samples with flow and valid_mask for the '
                'temporal loss; set with_flow=True in the dataset, or '
                'temporal_weight=0 for per-frame training')
        flow = torch.stack([s.flow for s in data_samples]).to(outputs)
        mask = torch.stack([s.valid_mask for s in data_samples]).to(outputs)
        return temporal_loss(outputs[:, 1], outputs[:, 0], flow, mask)

    def predict(self, inputs: Tensor,
                data_samples: Optional[Sequence[StylizationDataSample]]
                ) -> List[StylizationDataSample]:
        outputs = self.stylize(inputs)
        if data_samples is None:
            data_samples = [StylizationDataSample() for _ in outputs]
        for sample, output in zip(data_samples, outputs):
            sample.pred_frames = output.detach()
        return list(data_samples)
