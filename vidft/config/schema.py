"""The top-level keys a vidft config may contain, and the types of typed keys.

Accepted keys come from three places:

* the arguments of ``Runner.__init__`` / ``Runner.from_cfg`` in mmengine
  0.10.7, plus the keys that this ``Runner`` reads from ``self.cfg``
  (``model_wrapper_cfg``, ``find_unused_parameters``, ``sync_bn``,
  ``compile``, ``activation_checkpointing``, ``efficient_conv_bn_eval``);
* ``custom_imports``, which mmengine's ``Config.fromfile`` imports;
* vidft's extras, listed in :data:`VIDFT_KEYS`.

Helper variables. mmaction2 configs define variables that other settings
refer to (``train_pipeline``, ``dataset_type``, ``data_root``,
``ann_file_train``, ...). A top-level name that is not an accepted key is a
helper variable when it starts with ``_`` or follows the mmaction2 naming
rule in :func:`is_helper_name`. Any other name is an error. A helper name
that is nearly the same as an accepted key (difflib ratio of at least
:data:`HELPER_CUTOFF`, leading underscores ignored) is an error too, because
it is more likely a typo than a helper.

Legacy keys. :data:`LEGACY_KEYS` maps keys of mmcv 1.x / mmaction2 0.x
configs to their replacement, and such a key is an error naming it.

Types. :func:`typed_defaults` returns a yacs ``CfgNode`` whose leaves fix the
types of the typed keys. The leaf values only fix types and are never merged
into a config: many are mmengine 0.10.7's defaults, the others are examples.
Validation applies yacs's rule to each typed value: the same type, a list for
a tuple and the reverse, or None. vidft widens it in one place: an int is
accepted for a float key. :data:`KINDS` lists keys that take one of several
container types, and :data:`CHOICES` the allowed values of some str keys.
"""
import re
from typing import Dict, Tuple

from yacs.config import CfgNode

# Difflib ratio from which a helper name counts as a misspelt config key.
HELPER_CUTOFF = 0.8

# Difflib ratio from which an unknown key gets a "did you mean" suggestion.
SUGGESTION_CUTOFF = 0.6

#: Arguments of mmengine 0.10.7 ``Runner.__init__`` that ``from_cfg`` fills
#: from the config, and the keys this Runner reads from ``self.cfg``.
RUNNER_KEYS: Dict[str, str] = {
    'model': 'the model to build (dict with type)',
    'work_dir': 'folder for checkpoints and logs',
    'train_dataloader': 'training data loader settings',
    'val_dataloader': 'validation data loader settings',
    'test_dataloader': 'test data loader settings',
    'train_cfg': 'training loop (EpochBasedTrainLoop or IterBasedTrainLoop)',
    'val_cfg': 'validation loop',
    'test_cfg': 'test loop',
    'auto_scale_lr': 'learning-rate scaling by total batch size',
    'optim_wrapper': 'optimizer wrapper with its optimizer',
    'param_scheduler': 'learning-rate and momentum schedulers',
    'val_evaluator': 'validation metrics',
    'test_evaluator': 'test metrics',
    'default_hooks': 'the default hooks by name',
    'custom_hooks': 'extra hooks',
    'data_preprocessor': 'data preprocessor when model does not set one',
    'load_from': 'checkpoint to load weights from',
    'resume': 'resume training from load_from or the newest checkpoint '
    "(True); vidft.engine also takes 'auto' or a checkpoint path",
    'launcher': 'distributed launcher',
    'env_cfg': 'cudnn, multiprocessing and distributed settings',
    'log_processor': 'how logged values are smoothed and formatted',
    'log_level': 'level of the runner logger',
    'visualizer': 'visualizer and its backends',
    'default_scope': 'registry scope for type names without a prefix',
    'randomness': 'seed and determinism',
    'experiment_name': 'name of the run',
    'model_wrapper_cfg': 'distributed model wrapper',
    'find_unused_parameters': 'DistributedDataParallel option',
    'sync_bn': 'convert BatchNorm to SyncBatchNorm ("torch" or "mmcv")',
    'compile': 'torch.compile the model (bool or compile kwargs)',
    'activation_checkpointing': 'module names to checkpoint activations of',
    'efficient_conv_bn_eval': 'module names using efficient conv-bn eval',
}

#: Keys that mmengine's ``Config`` itself acts on.
CONFIG_FILE_KEYS: Dict[str, str] = {
    'custom_imports': 'modules that Config.fromfile imports (imports, '
    'allow_failed_imports)',
}

#: vidft's own top-level keys (read by vidft.engine.build_runner).
VIDFT_KEYS: Dict[str, str] = {
    'vis_backends': 'visualizer backends, referenced by visualizer '
    '(the mmaction2 convention)',
    'skip_nonfinite': 'skip an iteration with a non-finite loss instead of '
    'stopping (NonFiniteLossHook)',
    'runner_type': 'registered subclass of VidftRunner to build instead of '
    'VidftRunner',
    'inferencer': "the task's inferencer for 'vidft infer' "
    "(dict(type='<scope>.<Inferencer>', ...options))",
}

#: Every accepted top-level key with a one-line description.
ACCEPTED_KEYS: Dict[str, str] = {**RUNNER_KEYS, **CONFIG_FILE_KEYS,
                                 **VIDFT_KEYS}

#: Keys of mmcv 1.x / mmaction2 0.x configs and what replaces each.
LEGACY_KEYS: Dict[str, str] = {
    'optimizer': "optim_wrapper=dict(optimizer=...)",
    'optimizer_config': "optim_wrapper (grad_clip becomes "
    "optim_wrapper.clip_grad; fp16 becomes type='AmpOptimWrapper')",
    'lr_config': 'param_scheduler (a list of mmengine parameter schedulers, '
    "e.g. dict(type='CosineAnnealingLR', ...))",
    'momentum_config': 'param_scheduler (momentum schedulers such as '
    "dict(type='CosineAnnealingMomentum', ...))",
    'checkpoint_config': 'default_hooks.checkpoint '
    "(dict(type='CheckpointHook', interval=...))",
    'log_config': 'default_hooks.logger for the interval and '
    'visualizer.vis_backends for the logger hooks',
    'evaluation': 'val_evaluator for the metrics, train_cfg.val_interval '
    'for the interval and default_hooks.checkpoint.save_best',
    'total_epochs': 'train_cfg.max_epochs',
    'workflow': 'train_cfg and val_cfg (validation runs every '
    'train_cfg.val_interval)',
    'data': 'train_dataloader, val_dataloader and test_dataloader '
    '(videos_per_gpu becomes batch_size, workers_per_gpu num_workers)',
    'runner': "train_cfg (EpochBasedRunner becomes type='EpochBasedTrainLoop' "
    "with max_epochs, IterBasedRunner type='IterBasedTrainLoop' with "
    'max_iters)',
    'dist_params': 'env_cfg.dist_cfg',
    'resume_from': 'load_from=<checkpoint> together with resume=True',
    'auto_resume': 'resume=True without load_from (resumes the latest '
    'checkpoint in work_dir)',
    'fp16': "optim_wrapper.type='AmpOptimWrapper' (or the --amp option)",
    'gpu_ids': 'launcher and the number of processes started by torchrun',
    'cudnn_benchmark': 'env_cfg.cudnn_benchmark',
    'mp_start_method': 'env_cfg.mp_cfg.mp_start_method',
    'opencv_num_threads': 'env_cfg.mp_cfg.opencv_num_threads',
    'seed': 'randomness.seed',
    'deterministic': 'randomness.deterministic',
    'img_norm_cfg': 'the mean and std of model.data_preprocessor (vidft '
    'normalises in the data preprocessor, not in the pipeline)',
    'eval_config': 'test_evaluator',
    'output_config': 'test_evaluator (for example a DumpResults metric)',
}

#: Keys below a top-level key that older releases used there.
LEGACY_NESTED_KEYS: Dict[str, str] = {
    'test_cfg.average_clips': 'the average_clips argument of the '
    'classification head (model.cls_head.average_clips)',
}

# The mmaction2 naming rule for helper variables.
HELPER_PATTERN = re.compile(
    r'.+_(pipeline|type|args)$'   # train_pipeline, dataset_type, backend_args
    r'|^data_root(_\w+)?$'        # data_root, data_root_val
    r'|^ann_file(_\w+)?$')        # ann_file_train, ann_file_val

#: Keys whose value may be one of several container types. None is always
#: accepted. Keys in neither this table nor :func:`typed_defaults` are free.
KINDS: Dict[str, Tuple[type, ...]] = {
    'model': (dict,),
    'data_preprocessor': (dict,),
    'param_scheduler': (dict, list, tuple),
    'val_evaluator': (dict, list, tuple),
    'test_evaluator': (dict, list, tuple),
    'custom_hooks': (list, tuple),
    'vis_backends': (list, tuple),
    'activation_checkpointing': (list, tuple),
    'efficient_conv_bn_eval': (list, tuple),
    'compile': (bool, dict),
    'resume': (bool, str),
    'runner_type': (str, type),
    'custom_imports.imports': (str, list, tuple),
    'optim_wrapper.clip_grad': (dict,),
    'default_hooks.checkpoint.save_best': (str, list, tuple),
    'default_hooks.checkpoint.rule': (str, list, tuple),
}

#: Allowed values of string keys.
CHOICES: Dict[str, Tuple[str, ...]] = {
    'launcher': ('none', 'pytorch', 'slurm', 'mpi'),
    'log_level': ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'),
    'sync_bn': ('torch', 'mmcv'),
    'env_cfg.mp_cfg.mp_start_method': ('fork', 'spawn', 'forkserver'),
}

#: Keys that must not be None when present (mmengine fails on None later).
NOT_NULL = frozenset(
    {'default_scope', 'launcher', 'log_level', 'resume', 'model'})

#: Extra advice for a wrong type, by key.
TYPE_HINTS: Dict[str, str] = {
    'default_scope': "use 'vidft' or the name of a plugin",
}


def _node(new_allowed: bool, **children: object) -> CfgNode:
    node = CfgNode(new_allowed=new_allowed)
    for key, value in children.items():
        node[key] = value
    return node


def _dataloader() -> CfgNode:
    return _node(True, batch_size=1, num_workers=0, persistent_workers=False,
                 pin_memory=False, drop_last=False,
                 dataset=_node(True), sampler=_node(True))


def typed_defaults() -> CfgNode:
    """Build the yacs tree of typed keys (a fresh copy on every call).

    A node built with ``new_allowed=True`` accepts keys that it does not list,
    because the component it configures takes them (a loop, a hook, a data
    loader). A node with ``new_allowed=False`` is closed: mmengine reads it
    with ``dict.get`` and would ignore a misspelt key without a word.
    """
    return _node(
        False,
        work_dir='./work_dirs',
        load_from='',
        launcher='none',
        log_level='INFO',
        default_scope='mmengine',
        experiment_name='',
        find_unused_parameters=False,
        sync_bn='torch',
        skip_nonfinite=False,
        train_dataloader=_dataloader(),
        val_dataloader=_dataloader(),
        test_dataloader=_dataloader(),
        train_cfg=_node(True, by_epoch=True, max_epochs=1, max_iters=1,
                        val_begin=1, val_interval=1),
        val_cfg=_node(True, fp16=False),
        test_cfg=_node(True, fp16=False),
        auto_scale_lr=_node(False, enable=False, base_batch_size=1),
        optim_wrapper=_node(
            True, accumulative_counts=1,
            optimizer=_node(True, lr=0.01, weight_decay=0.0, momentum=0.0),
            paramwise_cfg=_node(True)),
        default_hooks=_node(
            True,
            checkpoint=_node(True, interval=-1, by_epoch=True,
                             max_keep_ckpts=-1, save_last=True,
                             save_optimizer=True),
            logger=_node(True, interval=10, ignore_last=True,
                         log_metric_by_epoch=True)),
        env_cfg=_node(
            False, cudnn_benchmark=False, resource_limit=4096,
            mp_cfg=_node(False, mp_start_method='fork', opencv_num_threads=0),
            dist_cfg=_node(True, backend='nccl')),
        log_processor=_node(True, window_size=10, by_epoch=True,
                            num_digits=4, log_with_hierarchy=False),
        visualizer=_node(True, save_dir='', name=''),
        randomness=_node(False, seed=0, deterministic=False,
                         diff_rank_seed=False),
        model_wrapper_cfg=_node(True),
        custom_imports=_node(False, allow_failed_imports=False),
    )


def is_helper_name(name: str) -> bool:
    """Tell whether a top-level name follows the helper-variable rule.

    A helper starts with ``_`` or follows the mmaction2 naming rule: it ends
    with ``_pipeline``, ``_type`` or ``_args``, or starts with ``data_root``
    or ``ann_file``.
    """
    return name.startswith('_') or bool(HELPER_PATTERN.match(name))
