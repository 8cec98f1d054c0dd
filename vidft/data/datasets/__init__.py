"""Dataset base classes. Importing this package registers them in
:data:`vidft.registry.DATASETS`."""
from .base import (BAD_SAMPLE_ERRORS, MAX_SAMPLE_RETRIES, BadSampleError,
                   BaseVideoDataset, InvalidOutputError)

__all__ = [
    'BAD_SAMPLE_ERRORS', 'MAX_SAMPLE_RETRIES', 'BadSampleError',
    'BaseVideoDataset', 'InvalidOutputError'
]
