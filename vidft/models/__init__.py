"""Model components shared by every task: image backbones, heads, losses and
the video data preprocessor. Importing this package registers them."""
import logging

import torch.nn as nn

from . import backbones, data_preprocessor, heads, losses  # noqa: F401

logger = logging.getLogger(__name__)


def warn_untrained(model: nn.Module) -> None:
    """Log a warning that ``model`` runs without a checkpoint, unless it
    has no parameters (a baseline such as frame averaging or bicubic).

    Inferencers call it when they get ``checkpoint=None``.
    """
    count = sum(p.numel() for p in model.parameters())
    if count:
        logger.warning('no checkpoint given: %s runs with the %s parameters '
                       'it was built with, not trained ones', type(model).__name__,
                       f'{count:,}')
