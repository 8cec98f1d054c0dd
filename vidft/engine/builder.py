"""Build a :class:`~vidft.engine.runner.VidftRunner` from a validated config."""
import copy
import importlib.util
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

from vidft import plugins
from vidft.registry import RUNNERS

from . import hooks as _hooks  # noqa: F401  registers vidft's hooks
from . import optim_wrappers as _optim_wrappers  # noqa: F401  registers AMP
from .checkpoint import install_safe_loader
from .dist import (cpu_model_wrapper_cfg, init_cpu_process_group,
                   resolve_launcher, uses_gpu)
from .log_filters import install_scope_warning_filter
from .runner import AUTO_RESUME, VidftRunner, component_type_name

# Hooks build_runner adds when the config does not list them.
DEFAULT_CUSTOM_HOOKS = ('NonFiniteLossHook', 'RandomStateHook',
                        'TrainingCurveHook', 'BadSampleReportHook',
                        'ClassNamesCheckHook')

# Optimizer wrapper types that --amp may switch to AmpOptimWrapper.
AMP_CONVERTIBLE = ('OptimWrapper', 'AmpOptimWrapper')

# Runners built in this process, by experiment name.
_experiment_counts: Dict[str, int] = {}


def _set_work_dir(cfg: Config, work_dir: Optional[str]) -> None:
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        if not cfg.filename:
            raise ValueError('expected a work_dir for a config that was not '
                             'loaded from a file; pass work_dir= or set '
                             'work_dir in the config')
        stem = osp.splitext(osp.basename(cfg.filename))[0]
        cfg.work_dir = osp.join('./work_dirs', stem)


def _set_resume(cfg: Config, resume: Optional[str]) -> None:
    if resume is None:
        return
    if resume != AUTO_RESUME and not osp.isfile(resume):
        raise FileNotFoundError(f'checkpoint {resume} to resume from does '
                                f"not exist; pass an existing file or "
                                f"'{AUTO_RESUME}'")
    cfg.resume = resume


def _enable_amp(cfg: Config) -> None:
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        raise ValueError('--amp needs an optim_wrapper in the config; add '
                         "optim_wrapper=dict(type='OptimWrapper', "
                         'optimizer=...)')
    kind = component_type_name(optim_wrapper) or 'OptimWrapper'
    if kind not in AMP_CONVERTIBLE:
        raise ValueError(f'--amp expects optim_wrapper.type in '
                         f'{AMP_CONVERTIBLE}, got {kind!r}; configure mixed '
                         'precision in that wrapper instead')
    if kind == 'AmpOptimWrapper':
        MMLogger.get_current_instance().info(
            'the config already uses AmpOptimWrapper; --amp changes nothing')
        return
    optim_wrapper['type'] = 'AmpOptimWrapper'
    optim_wrapper.setdefault('loss_scale', 'dynamic')


def _set_randomness(cfg: Config, seed: Optional[int],
                    deterministic: bool) -> None:
    randomness = dict(cfg.get('randomness') or {})
    randomness.setdefault('seed', None)  # mmengine then draws a seed
    if seed is not None:
        randomness['seed'] = seed
    if deterministic:
        randomness['deterministic'] = True
    cfg.randomness = randomness


def _set_vis_backends(cfg: Config) -> None:
    visualizer = dict(cfg.get('visualizer') or dict(type='Visualizer'))
    backends: List[Dict[str, Any]] = list(visualizer.get('vis_backends')
                                          or [])
    present = {component_type_name(backend) for backend in backends}
    if 'LocalVisBackend' not in present:
        backends.append(dict(type='LocalVisBackend'))
    if 'TensorboardVisBackend' not in present and \
            importlib.util.find_spec('tensorboard') is not None:
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends
    cfg.visualizer = visualizer


def _add_custom_hooks(cfg: Config) -> None:
    custom_hooks = list(cfg.get('custom_hooks') or [])
    present = {component_type_name(hook) for hook in custom_hooks}

    if 'NonFiniteLossHook' in present and 'skip_nonfinite' in cfg:
        raise ValueError(
            'skip_nonfinite is set both at the top of the config and in '
            'custom_hooks (NonFiniteLossHook); keep only one of them')
    skip_nonfinite = cfg.get('skip_nonfinite', False)

    for name in DEFAULT_CUSTOM_HOOKS:
        if name in present:
            continue
        hook: Dict[str, Any] = dict(type=name)
        if name == 'NonFiniteLossHook':
            hook['skip_nonfinite'] = skip_nonfinite
        custom_hooks.append(hook)
    cfg.custom_hooks = custom_hooks


def _set_unique_experiment_name(cfg: Config) -> None:
    # mmengine names the logger, visualizer and message hub of a run
    # '<experiment>_<timestamp>' and silently reuses an instance of the same
    # name, so a second runner built within the same second would write to
    # the first run's log file. Number the repeats instead.
    base = cfg.get('experiment_name')
    if base is None and cfg.filename:
        base = osp.splitext(osp.basename(cfg.filename))[0]
    if base is None:
        # A config built in code has no file name. mmengine would then name
        # the run by its timestamp alone, and two such runs started within
        # one second would share a message hub, including the checkpoint
        # hook's list of checkpoints to delete.
        base = 'run'
    count = _experiment_counts.get(base, 0) + 1
    _experiment_counts[base] = count
    cfg.experiment_name = base if count == 1 else f'{base}_{count}'


def _runner_class(cfg: Config) -> type:
    runner_type = cfg.get('runner_type')
    if runner_type is None:
        return VidftRunner
    runner_cls = RUNNERS.get(runner_type) if isinstance(
        runner_type, str) else runner_type
    if not (isinstance(runner_cls, type)
            and issubclass(runner_cls, VidftRunner)):
        raise ValueError(
            f'expected runner_type to name a subclass of VidftRunner, got '
            f'{runner_type!r}; vidft loads and saves checkpoints safely only '
            'through VidftRunner. Remove runner_type or derive from it')
    return runner_cls


def prepare_config(cfg: Config, *, launcher: str = 'none',
                   work_dir: Optional[str] = None,
                   resume: Optional[str] = None, amp: bool = False,
                   seed: Optional[int] = None,
                   deterministic: bool = False) -> Config:
    """Return a copy of ``cfg`` with the command-line choices and vidft's
    defaults applied (no process group is created). Arguments are those of
    :func:`build_runner`; ``launcher`` must already be resolved."""
    cfg = copy.deepcopy(cfg)
    if not isinstance(cfg, Config):
        cfg = Config(dict(cfg))
    cfg.launcher = launcher
    cfg.setdefault('default_scope', 'vidft')
    _set_work_dir(cfg, work_dir)
    _set_resume(cfg, resume)
    if amp:
        _enable_amp(cfg)
    _set_randomness(cfg, seed, deterministic)
    _set_vis_backends(cfg)
    _add_custom_hooks(cfg)
    return cfg


def build_runner(cfg: Config, *, launcher: str = 'none',
                 work_dir: Optional[str] = None,
                 resume: Optional[str] = None, amp: bool = False,
                 seed: Optional[int] = None,
                 deterministic: bool = False) -> Runner:
    """Build the runner for training or testing ``cfg``.

    Args:
        cfg: a validated config (see ``vidft.config.load_config``); it is
            not modified.
        launcher: ``'none'``, ``'pytorch'`` or ``'slurm'``. ``'none'`` under
            torchrun becomes ``'pytorch'``.
        work_dir: overrides ``cfg.work_dir``; without either, logs and
            checkpoints go to ``./work_dirs/<config file name>``.
        resume: ``'auto'`` for the newest readable checkpoint of the work dir
            (falling back to older ones, then to ``load_from``), or the path
            of a checkpoint; None keeps ``cfg.resume``.
        amp: switch ``OptimWrapper`` to ``AmpOptimWrapper`` (bfloat16 on CPU).
        seed: random seed; overrides ``cfg.randomness.seed``.
        deterministic: ask for deterministic algorithms (slower).

    GPU training uses mmengine's process-group set-up; CPU training uses a
    ``gloo`` group created here, and a DDP wrapper with ``device_ids=None``.
    """
    plugins.load_for_config(cfg)
    install_scope_warning_filter(MMLogger.get_current_instance())
    install_safe_loader()

    launcher = resolve_launcher(launcher)
    cfg = prepare_config(cfg, launcher=launcher, work_dir=work_dir,
                         resume=resume, amp=amp, seed=seed,
                         deterministic=deterministic)

    if launcher != 'none' and not uses_gpu():
        env_cfg = cfg.get('env_cfg') or {}
        init_cpu_process_group(launcher, env_cfg.get('dist_cfg') or {})
        cfg.model_wrapper_cfg = cpu_model_wrapper_cfg(
            cfg.get('model_wrapper_cfg'),
            bool(cfg.get('find_unused_parameters', False)))

    _set_unique_experiment_name(cfg)
    return _runner_class(cfg).from_cfg(cfg)

