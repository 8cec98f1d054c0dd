"""Convert an mmaction2 recognition config file to a vidft config file.

The mmaction2 config is read with mmengine's ``Config.fromfile`` (its
``_base_`` files resolve relative to it) and custom imports are not run, so
mmaction2 is never imported. The model, data pipelines, datasets,
dataloaders, evaluators, schedule and runtime settings are converted; every
option that could not be carried over is listed in
:attr:`ConversionResult.skipped` and in the header of the written file.
"""
import datetime
import textwrap
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mmengine.config import Config

from .data_converter import convert_dataloader, convert_evaluator
from .formatting import format_value
from .model_converter import Skipped, convert_model

# Top-level keys copied unchanged: mmengine's loops, optimizers, schedulers
# and runtime options, which vidft uses as they are.
COPIED_KEYS = ('train_cfg', 'val_cfg', 'test_cfg', 'param_scheduler',
               'auto_scale_lr', 'env_cfg', 'log_processor', 'log_level',
               'resume', 'randomness')
# mmengine hooks that vidft configs name the same way.
MMENGINE_HOOKS = ('IterTimerHook', 'LoggerHook', 'ParamSchedulerHook',
                  'CheckpointHook', 'DistSamplerSeedHook', 'RuntimeInfoHook',
                  'SyncBuffersHook', 'EMAHook', 'EmptyCacheHook')
MMENGINE_VIS_BACKENDS = ('LocalVisBackend', 'TensorboardVisBackend',
                         'WandbVisBackend')
# Optimizer wrapper constructors of mmaction2 with no vidft counterpart
# (TSMOptimWrapperConstructor becomes a paramwise_cfg, see below).
MMACTION2_CONSTRUCTORS = ('SwinOptimWrapperConstructor',
                          'LearningRateDecayOptimizerConstructor')
# Registered by this package; converted configs import it for the hook and
# for recognition.MultiScaleCrop.
PLUGIN_MODULE = 'vidft_recognition.mmaction2'
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Top-level keys of mmaction2 0.x (mmcv 1.x) configs. mmaction2 1.x replaced
# them with the dataloaders, optim_wrapper, param_scheduler, train_cfg and
# default_hooks that this converter reads.
LEGACY_KEYS = ('data', 'optimizer', 'optimizer_config', 'lr_config',
               'total_epochs', 'checkpoint_config', 'log_config',
               'evaluation', 'workflow', 'dist_params', 'resume_from')
EVALUATORS = ('val_evaluator', 'test_evaluator')


@dataclass
class ConversionResult:
    """A converted config and what could not be carried over.

    Attributes:
        config: The vidft config as plain Python values.
        skipped: One line per option that was left out or replaced, as
            ``key=value: reason``.
        source: The mmaction2 config file.
    """

    config: Dict[str, Any]
    skipped: List[str] = field(default_factory=list)
    source: str = '<dict>'

    def to_text(self) -> str:
        """Return the config as the text of a Python config file."""
        lines = [f'# vidft config converted from the mmaction2 config '
                 f'{self.source}',
                 f'# by `vidft convert-config` on '
                 f'{datetime.date.today().isoformat()}.']
        if self.skipped:
            lines.append('# Not carried over (check these by hand):')
            for line in self.skipped:
                lines += textwrap.wrap(line, width=79,
                                       initial_indent='#   ',
                                       subsequent_indent='#       ',
                                       break_on_hyphens=False)
        lines.append('')
        for key, value in self.config.items():
            lines.append(f'{key} = '
                         + format_value(value, column=len(key) + 3))
        return '\n'.join(lines) + '\n'


def convert_mmaction2_config(path: str) -> ConversionResult:
    """Read the mmaction2 config file ``path`` and convert it."""
    cfg = Config.fromfile(path, import_custom_modules=False)
    result = convert_mmaction2_cfg(cfg.to_dict())
    result.source = path
    return result


def convert_mmaction2_cfg(cfg: Dict[str, Any]) -> ConversionResult:
    """Convert an mmaction2 config given as a dict.

    Raises:
        ValueError: The config has no ``model`` or its model is not one of
            the supported families (TSN, TSM, I3D, SlowOnly with ResNets).
    """
    if 'model' not in cfg:
        raise ValueError('expected an mmaction2 config with a model, got '
                         'none; pass the config of a recognizer')
    # A plain variable named like a 0.x key (data = 'kinetics400') is not one.
    legacy = [key for key in LEGACY_KEYS
              if key in cfg and (key != 'data' or isinstance(cfg[key], dict))]
    if legacy and all(cfg.get(key) is None
                      for key in DATALOADERS + ('optim_wrapper',)):
        raise ValueError(
            f'this looks like an mmaction2 0.x config (top-level keys '
            f'{legacy}), and only 1.x configs are converted. Convert it to '
            'the 1.x layout first (train_dataloader, optim_wrapper, '
            'param_scheduler, train_cfg), or start from the 1.x config of '
            'the same model in the mmaction2 repository')
    skipped = Skipped()
    for key in legacy:
        skipped(key, cfg[key], 'an mmaction2 0.x key, not read; give its 1.x '
                'form instead')
    config: Dict[str, Any] = dict(default_scope='vidft')
    config['custom_imports'] = dict(imports=[PLUGIN_MODULE],
                                    allow_failed_imports=False)
    config['model'] = convert_model(cfg['model'], skipped)

    # Data: dataloaders with their datasets and pipelines, and evaluators.
    for key in DATALOADERS:
        dataloader = convert_dataloader(cfg.get(key), key, skipped)
        if dataloader is not None:
            config[key] = dataloader
    num_classes = config['model']['cls_head']['num_classes']
    for key in EVALUATORS:
        evaluator = convert_evaluator(cfg.get(key), key, skipped)
        if evaluator is not None:
            config[key] = _fit_topk(evaluator, num_classes, key, skipped)

    # Schedule and runtime.
    for key in COPIED_KEYS:
        if cfg.get(key) is not None:
            config[key] = cfg[key]
    if cfg.get('optim_wrapper'):
        config['optim_wrapper'] = _convert_optim_wrapper(
            cfg['optim_wrapper'], skipped)
    _convert_hooks(cfg, config, skipped)
    _convert_visualizer(cfg, config, skipped)
    _convert_load_from(cfg, config, skipped)
    for key in sorted(set(cfg) - set(config) - _HANDLED_KEYS):
        if _is_component(cfg[key]) and not key.endswith('_pipeline'):
            skipped(key, '...', 'not converted')
    return ConversionResult(config=config, skipped=skipped.lines)


def _is_component(value: Any) -> bool:
    """Tell a component config (a dict with 'type', or a list of them)
    from a config variable such as data_root, which is already inlined."""
    if isinstance(value, dict):
        return 'type' in value
    return isinstance(value, list) and any(
        isinstance(item, dict) and 'type' in item for item in value)


_HANDLED_KEYS = {'default_hooks', 'custom_hooks', 'visualizer',
                 'vis_backends', 'load_from', 'default_scope',
                 'file_client_args', 'launcher', 'work_dir', *LEGACY_KEYS}


def _fit_topk(evaluator: Dict[str, Any], num_classes: int, where: str,
              skipped: Skipped) -> Dict[str, Any]:
    """Drop top-k values above the class count, which AccuracyMetric
    rejects because they are always 1.0."""
    topk = evaluator.get('topk')
    if not topk:
        return evaluator
    valid_topk = [k for k in topk if k <= num_classes] or [1]
    if valid_topk != list(topk):
        skipped(f'{where}.topk', topk, f'only {num_classes} classes; '
                f'topk={valid_topk} is used')
    return dict(evaluator, topk=valid_topk)


def tsm_paramwise_cfg(fc_lr5: bool) -> Dict[str, Any]:
    """Return the ``paramwise_cfg`` that gives a ResNet TSM model the
    parameter groups of mmaction2's ``TSMOptimWrapperConstructor``.

    That constructor trains conv and linear biases at twice the learning
    rate without weight decay, and norm layers without weight decay. With
    ``fc_lr5`` the classifier weight gets 5 times the learning rate and its
    bias 10 times (without decay). Its separate group for the first conv is
    the same as the normal one for bias-free ResNet convs.
    """
    paramwise: Dict[str, Any] = dict(bias_lr_mult=2.0, bias_decay_mult=0.0,
                                     norm_decay_mult=0.0)
    if fc_lr5:
        paramwise['custom_keys'] = {
            'cls_head.fc.weight': dict(lr_mult=5.0),
            'cls_head.fc.bias': dict(lr_mult=10.0, decay_mult=0.0)}
    return paramwise


def _convert_optim_wrapper(optim_wrapper: Dict[str, Any],
                           skipped: Skipped) -> Dict[str, Any]:
    converted = dict(optim_wrapper)
    constructor = converted.get('constructor')
    if constructor == 'TSMOptimWrapperConstructor':
        paramwise = dict(converted.get('paramwise_cfg') or {})
        converted['constructor'] = 'VidftOptimWrapperConstructor'
        converted['paramwise_cfg'] = tsm_paramwise_cfg(
            bool(paramwise.pop('fc_lr5', False)))
        if paramwise:
            skipped('optim_wrapper.paramwise_cfg', paramwise,
                    'options of TSMOptimWrapperConstructor')
    elif constructor in MMACTION2_CONSTRUCTORS:
        skipped('optim_wrapper.constructor', constructor,
                'mmaction2-only; VidftOptimWrapperConstructor with '
                'paramwise_cfg gives per-layer learning rates')
        del converted['constructor']
        paramwise = converted.pop('paramwise_cfg', None)
        if paramwise:
            skipped('optim_wrapper.paramwise_cfg', paramwise,
                    f'options of {constructor}')
    return converted


def _convert_hooks(cfg: Dict[str, Any], config: Dict[str, Any],
                   skipped: Skipped) -> None:
    hooks = {}
    for name, hook in (cfg.get('default_hooks') or {}).items():
        if hook is None or hook.get('type') in MMENGINE_HOOKS:
            hooks[name] = hook
        else:
            skipped(f'default_hooks.{name}', hook.get('type'),
                    'not an mmengine hook')
    if hooks:
        config['default_hooks'] = hooks
    custom = []
    for index, hook in enumerate(cfg.get('custom_hooks') or []):
        if hook.get('type') in MMENGINE_HOOKS:
            custom.append(hook)
        else:
            skipped(f'custom_hooks[{index}]', hook.get('type'),
                    'not an mmengine hook')
    if custom:
        config['custom_hooks'] = custom


def _convert_visualizer(cfg: Dict[str, Any], config: Dict[str, Any],
                        skipped: Skipped) -> None:
    backends = [b for b in cfg.get('vis_backends') or []
                if b.get('type') in MMENGINE_VIS_BACKENDS]
    for backend in cfg.get('vis_backends') or []:
        if backend.get('type') not in MMENGINE_VIS_BACKENDS:
            skipped('vis_backends', backend.get('type'),
                    'not an mmengine visualization backend')
    backends = backends or [dict(type='LocalVisBackend')]
    config['vis_backends'] = backends
    config['visualizer'] = dict(type='Visualizer', vis_backends=backends)
    visualizer = cfg.get('visualizer') or {}
    if visualizer.get('type') not in (None, 'Visualizer'):
        skipped('visualizer.type', visualizer['type'],
                "mmengine's Visualizer is used")


def _convert_load_from(cfg: Dict[str, Any], config: Dict[str, Any],
                       skipped: Skipped) -> None:
    """Load an mmaction2 ``load_from`` checkpoint through the key map."""
    load_from: Optional[str] = cfg.get('load_from')
    config['load_from'] = None
    if load_from:
        if '://' in load_from:
            skipped('load_from', load_from, 'vidft downloads nothing; '
                    'download the file and set the checkpoint of '
                    'LoadMMAction2Checkpoint in custom_hooks to its path')
        hooks = list(config.get('custom_hooks', []))
        hooks.append(dict(type='recognition.LoadMMAction2Checkpoint',
                          checkpoint=load_from))
        config['custom_hooks'] = hooks
