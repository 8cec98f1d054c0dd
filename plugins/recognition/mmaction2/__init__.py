"""mmaction2 interoperability: checkpoint key maps and config conversion.

Nothing here imports mmaction2. Checkpoints are read as plain state dicts
and configs through mmengine's ``Config.fromfile``. Importing this package
registers ``recognition.LoadMMAction2Checkpoint`` (a hook) and
``recognition.MultiScaleCrop`` (a transform), which converted configs use.
"""
from .config_converter import (ConversionResult, convert_mmaction2_cfg,
                               convert_mmaction2_config)
from .hooks import LoadMMAction2Checkpoint
from .key_maps import (convert_mmaction2_key, convert_mmaction2_state_dict,
                       load_mmaction2_checkpoint, mmaction2_key_map)
from .transforms import MultiScaleCrop

__all__ = ['ConversionResult', 'LoadMMAction2Checkpoint', 'MultiScaleCrop',
           'convert_mmaction2_cfg', 'convert_mmaction2_config',
           'convert_mmaction2_key', 'convert_mmaction2_state_dict',
           'load_mmaction2_checkpoint', 'mmaction2_key_map']
