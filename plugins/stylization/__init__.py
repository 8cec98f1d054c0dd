"""Video stylization plugin of vidft (scope ``stylization``).

Importing the package registers its components: the model
``stylization.VideoStylizer`` with ``stylization.TransformerNet`` and
``stylization.StylizationDataPreprocessor``, the loss
``stylization.PerceptualLoss``, the dataset
``stylization.VideoFramePairDataset`` and its transforms, the metric
``stylization.StylizationMetric`` and ``stylization.StylizationInferencer``.
"""
from . import datasets, losses, metrics, models, transforms  # noqa: F401
from .inference import StylizationInferencer

__all__ = ['StylizationInferencer']
