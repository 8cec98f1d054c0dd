"""Bicubic upsampling as a model, the baseline every VSR result is set
against."""
from typing import Optional

from torch import Tensor

from ..degradations import imresize_torch
from ..registry import MODELS
from .base import VSRModel


@MODELS.register_module()
class BicubicVSR(VSRModel):
    """Upscale each frame with MATLAB-style bicubic interpolation
    (:func:`vidft_vsr.degradations.imresize_torch`); it has no parameters.

    Args:
        scale: Upscaling factor.
        data_preprocessor: Config of the data preprocessor.
    """

    def __init__(self, scale: int = 4,
                 data_preprocessor: Optional[dict] = None) -> None:
        super().__init__(scale=scale, loss=None,
                         data_preprocessor=data_preprocessor)

    def upscale(self, lrs: Tensor) -> Tensor:
        height, width = lrs.shape[-2:]
        return imresize_torch(lrs, (height * self.scale, width * self.scale))
