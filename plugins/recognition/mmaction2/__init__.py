"""mmaction2 interoperability: checkpoint key maps and config conversion.

Nothing here imports mmaction2. Checkpoints are read as plain state dicts
and configs as Python files through mmengine's ``Config``.
"""
from .key_maps import (convert_mmaction2_key, convert_mmaction2_state_dict,
                       load_mmaction2_checkpoint, mmaction2_key_map)

__all__ = ['convert_mmaction2_key', 'convert_mmaction2_state_dict',
           'load_mmaction2_checkpoint', 'mmaction2_key_map']
