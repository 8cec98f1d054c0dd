"""Video super-resolution plugin of vidft (scope ``vsr``).

Importing the package registers its components: the models ``vsr.BasicVSR``
and ``vsr.BicubicVSR`` with ``vsr.VSRDataPreprocessor``, the datasets
``vsr.REDSDataset``, ``vsr.Vimeo90KDataset`` and ``vsr.HRVideoDataset``, the
paired-frame transforms and ``vsr.VSRInferencer``. The core PSNR/SSIM metrics
and the Charbonnier loss live in vidft itself.
"""
# The core PSNR/SSIM metrics, which every VSR config evaluates with.
import vidft.evaluation.image_quality  # noqa: F401

from . import datasets, models, transforms  # noqa: F401
from .inference import VSRInferencer

__all__ = ['VSRInferencer']
