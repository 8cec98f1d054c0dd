"""Hooks that vidft's runner adds to mmengine's: crash-safe checkpoint
retention, non-finite loss handling, random-state resume, the training
curve plot and the class list check. Importing this package registers them in vidft's HOOKS."""
from .checkpoint_hook import CheckpointHook
from .class_names_hook import ClassNamesCheckHook, ClassNamesMismatchError
from .curve_hook import TrainingCurveHook
from .nonfinite_hook import NonFiniteLossHook
from .random_state_hook import RandomStateHook

__all__ = ['CheckpointHook', 'ClassNamesCheckHook', 'ClassNamesMismatchError',
           'NonFiniteLossHook', 'RandomStateHook', 'TrainingCurveHook']
