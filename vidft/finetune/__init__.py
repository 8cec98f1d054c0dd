"""Fine-tuning toolkit: pretrained loading, freezing, param groups, unfreezing.

* :func:`load_pretrained` copies weights from a file, a ``torchvision://`` or
  ``timm://`` name, or a state dict into a model, renames, drops, inflates
  and replaces heads on the way, and returns a logged :class:`LoadReport`.
* :func:`freeze`, :func:`set_norm_eval` and :class:`NormEvalMixin` fix parts
  of a model when it is built.
* ``VidftOptimWrapperConstructor`` (:mod:`vidft.finetune.param_groups`) and
  ``UnfreezeHook`` (:mod:`vidft.finetune.hooks`) are registered in vidft's
  OPTIM_WRAPPER_CONSTRUCTORS and HOOKS registries, which import them when a
  config names them.
* :func:`apply_peft` and the ``PeftModel`` wrapper (LoRA through the peft
  library, BitFit, linear probing) and :func:`apply_strategy`, which
  rewrites a config for a named fine-tuning strategy.
"""
from .checkpoint_io import (UntrustedPickleError, load_state_dict_file,
                            save_state_dict_file)
from .freezing import (NormEvalMixin, freeze, select_parameters,
                       set_norm_eval, stage_layer_groups, stage_module_names,
                       unfreeze)
from .loading import CheckpointMismatchError, inflate_weight, load_pretrained
from .peft import (PeftModel, PeftReport, apply_peft, count_parameters,
                   read_peft_reference)
from .report import MAX_LOGGED_KEYS, LoadReport
from .sources import hub_checkpoint_dir, resolve_weights
from .strategies import (STRATEGIES, apply_strategy,
                         init_cfg_loads_checkpoint)

__all__ = [
    'CheckpointMismatchError', 'LoadReport', 'MAX_LOGGED_KEYS',
    'NormEvalMixin', 'PeftModel',
    'PeftReport', 'STRATEGIES', 'UntrustedPickleError', 'apply_peft',
    'apply_strategy', 'count_parameters', 'freeze', 'hub_checkpoint_dir',
    'inflate_weight', 'init_cfg_loads_checkpoint', 'load_pretrained', 'load_state_dict_file',
    'read_peft_reference', 'resolve_weights', 'save_state_dict_file',
    'select_parameters', 'set_norm_eval', 'stage_layer_groups',
    'stage_module_names', 'unfreeze',
]
