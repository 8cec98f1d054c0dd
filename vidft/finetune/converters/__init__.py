"""Key maps from other frameworks' checkpoint layouts to vidft models.

Each converter module provides a function ``(state_dict) -> state_dict``
that :func:`vidft.finetune.load_pretrained` takes as ``key_map``. A
converter that passes a tensor through unchanged under a new key gets that
rename listed in the load report.

Backbones name a converter by its key in :data:`KEY_MAP_FACTORIES`
(``TimmBackbone(..., key_map='efficientnet_lite')``), and
:func:`get_key_map` builds the key map for the model that receives the
weights.
"""
from typing import Callable, Dict, Optional

from torch import Tensor, nn

from .efficientnet_lite import (convert_efficientnet_lite,
                                efficientnet_lite_key_map)

KeyMapFn = Callable[[Dict[str, Tensor]], Dict[str, Tensor]]

# Converter name -> factory taking the receiving model (or None).
KEY_MAP_FACTORIES: Dict[str, Callable[[Optional[nn.Module]], KeyMapFn]] = {
    'efficientnet_lite': efficientnet_lite_key_map,
}


def get_key_map(name: str, model: Optional[nn.Module] = None) -> KeyMapFn:
    """Return the key map registered as ``name``, fitted to ``model``."""
    if name not in KEY_MAP_FACTORIES:
        raise ValueError(f'unknown key map {name!r}. Expected one of '
                         f'{sorted(KEY_MAP_FACTORIES)}, or a callable.')
    return KEY_MAP_FACTORIES[name](model)


__all__ = ['KEY_MAP_FACTORIES', 'convert_efficientnet_lite',
           'efficientnet_lite_key_map', 'get_key_map']
