"""The forward contract shared by every interpolation model."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from vidft.registry import LOSSES, MODELS

from .padding import crop_to, pad_to_multiple

#: Timestep used when a sample does not name one (the middle frame).
DEFAULT_TIMESTEP = 0.5

ModelOutput = Union[Tensor, Dict[str, Tensor], List[BaseDataElement]]


def _build_loss(cfg: Optional[Union[dict, torch.nn.Module]]) -> Optional[torch.nn.Module]:
    if cfg is None or isinstance(cfg, torch.nn.Module):
        return cfg
    return LOSSES.build(cfg)


class BaseInterpolator(BaseModel):
    """Base class of frame-interpolation models (mmengine ``BaseModel``).

    ``inputs`` has shape (N, 2, 3, H, W) with pixel values in [0, 1]: the
    frames before and after the requested instant. Each data sample stores
    its timestep ``t`` in (0, 1) in the metainfo key ``'timestep'``, and 0.5
    is used when it is absent. ``t = 0`` is the first input frame and
    ``t = 1`` the second. In ``'loss'`` mode a sample also carries
    ``gt_frame`` (3, H, W) in [0, 1].

    Modes of :meth:`forward`:

    * ``'tensor'``: the predicted frames, (N, 3, H, W) in [0, 1];
    * ``'loss'``: a dict of losses against ``gt_frame``;
    * ``'predict'``: the data samples with ``pred_frame`` (3, H, W) set.

    Subclasses implement :meth:`interpolate` on frames whose height and width
    are multiples of :attr:`size_divisor`; :meth:`forward` pads any other
    size with replicated borders and crops the result back exactly.

    Args:
        pixel_loss: Config of the reconstruction loss (a LOSSES entry), or
            None for a model that is only evaluated.
        census_loss: Optional config of a second loss added to the first,
            usually ``interpolation.CensusLoss``.
        data_preprocessor: Config of the data preprocessor; defaults to
            ``interpolation.InterpolationDataPreprocessor``.
        init_cfg: mmengine weight-initialisation config.
    """

    #: Height and width of the frames :meth:`interpolate` accepts must be
    #: multiples of this.
    size_divisor: int = 1

    def __init__(self,
                 pixel_loss: Optional[dict] = None,
                 census_loss: Optional[dict] = None,
                 data_preprocessor: Optional[Union[dict, torch.nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(
                type='interpolation.InterpolationDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            # Built here because mmengine's root registry does not see plugin
            # scopes unless a vidft default scope is active.
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.pixel_loss = _build_loss(pixel_loss)
        self.census_loss = _build_loss(census_loss)

    def interpolate(self, frame0: Tensor, frame1: Tensor, timestep: Tensor) -> Tensor:
        """Predict the frame at ``timestep`` (N,) between ``frame0`` and ``frame1``."""
        raise NotImplementedError

    def predict_frames(self, inputs: Tensor, timestep: Tensor) -> Tensor:
        """Interpolate pairs (N, 2, 3, H, W) of any size at ``timestep`` (N,).

        Frames are padded to multiples of :attr:`size_divisor` and the
        prediction (N, 3, H, W) is cropped back to the input size.
        """
        padded, size = pad_to_multiple(inputs, self.size_divisor)
        return crop_to(self.interpolate(padded[:, 0], padded[:, 1], timestep), size)

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[Sequence[BaseDataElement]] = None,
                mode: str = 'tensor') -> ModelOutput:
        if mode not in ('tensor', 'loss', 'predict'):
            raise ValueError(f"expected mode 'tensor', 'loss' or 'predict', "
                             f'got {mode!r}')
        self.check_inputs(inputs)
        timestep = self.gather_timesteps(data_samples, inputs)
        pred = self.predict_frames(inputs, timestep)

        if mode == 'tensor':
            return pred
        if mode == 'loss':
            return self.compute_losses(pred, self.gather_gt(data_samples))
        samples = list(data_samples) if data_samples else [BaseDataElement() for _ in pred]
        for sample, frame in zip(samples, pred):
            sample.pred_frame = frame
        return samples

    @staticmethod
    def check_inputs(inputs: Tensor) -> None:
        """Raise ValueError unless ``inputs`` is a batch of frame pairs."""
        if inputs.dim() != 5 or inputs.shape[1] != 2:
            raise ValueError(f'expected inputs of shape (N, 2, C, H, W), got '
                             f'{tuple(inputs.shape)}')

    def compute_losses(self, pred: Tensor, gt: Tensor) -> Dict[str, Tensor]:
        """Compute the configured losses of ``pred`` against ``gt``."""
        if self.pixel_loss is None:
            raise ValueError(
                f"{type(self).__name__} has no pixel_loss, so mode='loss' is "
                "not available; set model.pixel_loss (for example "
                "dict(type='interpolation.LaplacianPyramidLoss'))")
        losses = {'loss_pixel': self.pixel_loss(pred, gt)}
        if self.census_loss is not None:
            losses['loss_census'] = self.census_loss(pred, gt)
        return losses

    @staticmethod
    def gather_timesteps(data_samples: Optional[Sequence[BaseDataElement]],
                         inputs: Tensor) -> Tensor:
        """Collect the per-sample timesteps into a float32 tensor of shape (N,)."""
        num = inputs.shape[0]
        if not data_samples:
            return inputs.new_full((num,), DEFAULT_TIMESTEP, dtype=torch.float32)
        if len(data_samples) != num:
            raise ValueError(f'expected {num} data samples, one per frame '
                             f'pair, got {len(data_samples)}')
        values = [float(sample.metainfo.get('timestep', DEFAULT_TIMESTEP))
                  for sample in data_samples]
        for value in values:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'expected a timestep in [0, 1], got {value}')
        return torch.tensor(values, dtype=torch.float32, device=inputs.device)

    @staticmethod
    def gather_gt(data_samples: Optional[Sequence[BaseDataElement]]) -> Tensor:
        """Stack the ``gt_frame`` of every data sample into (N, 3, H, W)."""
        return stack_sample_field(
            data_samples, 'gt_frame', "in mode='loss'; build samples with "
            'interpolation.PackInterpolationInputs')


def stack_sample_field(data_samples: Optional[Sequence[BaseDataElement]], key: str,
                       fix: str) -> Tensor:
    """Stack the tensor ``key`` of every data sample as float32.

    Raises ValueError, ending with ``fix``, when a sample lacks it.
    """
    if not data_samples or any(key not in sample for sample in data_samples):
        raise ValueError(f"expected every data sample to carry '{key}' {fix}")
    return torch.stack([sample.get(key) for sample in data_samples]).float()
