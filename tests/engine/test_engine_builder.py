"""Config preparation, launcher detection and the CPU pieces of build_runner
that need no training run."""
import logging
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import engine_toy
from vidft import plugins
from vidft.engine import AmpOptimWrapper, build_runner, prepare_config
from vidft.engine.dist import cpu_model_wrapper_cfg, resolve_launcher
from vidft.engine.log_filters import (PluginScopeImportFilter,
                                      install_scope_warning_filter)

TORCHRUN_ENV = {'RANK': '0', 'LOCAL_RANK': '0', 'WORLD_SIZE': '2',
                'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': '29500'}


def test_launcher_detects_torchrun() -> None:
    assert resolve_launcher('none', TORCHRUN_ENV) == 'pytorch'
    assert resolve_launcher('none', {}) == 'none'
    assert resolve_launcher('slurm', TORCHRUN_ENV) == 'slurm'
    partial = {k: v for k, v in TORCHRUN_ENV.items() if k != 'MASTER_PORT'}
    assert resolve_launcher('none', partial) == 'none'
    with pytest.raises(ValueError, match='mpi'):
        resolve_launcher('mpi', {})


def test_cpu_wrapper_config_has_no_device_ids() -> None:
    wrapper = cpu_model_wrapper_cfg(None, find_unused_parameters=True)
    assert wrapper == dict(type='MMDistributedDataParallel',
                           broadcast_buffers=False,
                           find_unused_parameters=True, device_ids=None)
    with pytest.raises(ValueError, match='device_ids=None'):
        cpu_model_wrapper_cfg(dict(device_ids=[0]), False)


def test_prepare_config_applies_options(tmp_path: Path) -> None:
    cfg = engine_toy.make_config(str(tmp_path / 'config_dir'))
    checkpoint = tmp_path / 'iter_2.pth'
    checkpoint.write_bytes(b'x')

    prepared = prepare_config(
        cfg, launcher='none', work_dir=str(tmp_path / 'cli_dir'),
        resume=str(checkpoint), amp=True, seed=11, deterministic=True)

    assert prepared.work_dir == str(tmp_path / 'cli_dir')
    assert prepared.resume == str(checkpoint)
    assert prepared.optim_wrapper.type == 'AmpOptimWrapper'
    assert prepared.randomness == dict(seed=11, deterministic=True)
    backends = [b['type'] for b in prepared.visualizer.vis_backends]
    assert backends == ['LocalVisBackend', 'TensorboardVisBackend']
    hooks = [h['type'] for h in prepared.custom_hooks]
    assert hooks == ['NonFiniteLossHook', 'RandomStateHook',
                     'TrainingCurveHook', 'BadSampleReportHook',
                     'ClassNamesCheckHook']
    assert prepared.custom_hooks[0]['skip_nonfinite'] is False
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # input left alone


def test_prepare_config_default_work_dir_and_checks(tmp_path: Path) -> None:
    config_file = tmp_path / 'tsn_r50_demo.py'
    config_file.write_text("model = dict(type='EngineToyNet')\n")
    cfg = Config.fromfile(str(config_file))

    assert prepare_config(cfg).work_dir == './work_dirs/tsn_r50_demo'
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        prepare_config(cfg, resume=str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='optim_wrapper'):
        prepare_config(cfg, amp=True)
    cfg.optim_wrapper = dict(type='DeepSpeedOptimWrapper')
    with pytest.raises(ValueError, match='DeepSpeedOptimWrapper'):
        prepare_config(cfg, amp=True)


def test_skip_nonfinite_set_twice_is_an_error(tmp_path: Path) -> None:
    cfg = engine_toy.make_config(
        str(tmp_path), skip_nonfinite=True,
        custom_hooks=[dict(type='NonFiniteLossHook', skip_nonfinite=True)])
    with pytest.raises(ValueError, match='only one'):
        prepare_config(cfg)


def test_runner_type_must_derive_from_vidft_runner(tmp_path: Path) -> None:
    cfg = engine_toy.make_config(str(tmp_path), runner_type='Runner')
    with pytest.raises(ValueError, match='VidftRunner'):
        build_runner(cfg)


def test_cpu_amp_wrapper_rejects_float16() -> None:
    optimizer = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    if torch.cuda.is_available():
        pytest.skip('the CPU path of AmpOptimWrapper needs a machine '
                    'without a GPU')
    with pytest.raises(ValueError, match='float16 autocast needs a GPU'):
        AmpOptimWrapper(optimizer=optimizer, dtype='float16')


def test_plugin_scope_warning_filtered(monkeypatch) -> None:
    monkeypatch.setattr(plugins, 'discover', lambda: {'recognition': None})
    logger = logging.getLogger('vidft.tests.engine.scope_filter')
    records = engine_toy.LogCapture()
    logger.addHandler(records)
    install_scope_warning_filter(logger)
    install_scope_warning_filter(logger)  # replaces, does not stack

    logger.warning('Failed to import `recognition.registry` make sure the '
                   'registry.py exists in `recognition` package.')
    logger.warning('Failed to import `unknown.registry` make sure the '
                   'registry.py exists in `unknown` package.')
    logger.error('Failed to import `recognition.registry` at ERROR')

    assert records.messages == [
        'Failed to import `unknown.registry` make sure the registry.py '
        'exists in `unknown` package.',
        'Failed to import `recognition.registry` at ERROR']
    filters = [f for f in logger.filters
               if isinstance(f, PluginScopeImportFilter)]
    assert len(filters) == 1


def test_default_scope_warning_filtered(monkeypatch) -> None:
    from mmengine.registry import DefaultScope

    monkeypatch.setattr(plugins, 'discover', lambda: {'recognition': None})
    logger = logging.getLogger('vidft.tests.engine.default_scope_filter')
    records = engine_toy.LogCapture()
    logger.addHandler(records)
    install_scope_warning_filter(logger)
    message = ('Failed to import `None.registry` make sure the registry.py '
               'exists in `None` package.')

    with DefaultScope.overwrite_default_scope('recognition'):
        logger.warning(message)
    with DefaultScope.overwrite_default_scope('mmengine'):
        logger.warning(message)

    assert records.messages == [message]


@pytest.mark.parametrize('filtered', [True, False])
def test_plugin_default_scope_run_log(tmp_path: Path, fake_plugins,
                                      monkeypatch, filtered: bool) -> None:
    import vidft.engine.builder as builder
    import vidft.engine.runner as runner_module

    fake_plugins.add('enginescope', """
        from vidft.registry import scoped_registries
        REGISTRIES = scoped_registries('enginescope')
    """)
    if not filtered:  # the control: mmengine's warning does appear
        monkeypatch.setattr(builder, 'install_scope_warning_filter',
                            lambda logger: None)
        monkeypatch.setattr(runner_module, 'install_scope_warning_filter',
                            lambda logger: None)
    cfg = engine_toy.make_config(str(tmp_path / 'work'),
                                 default_scope='enginescope')

    runner = build_runner(cfg)

    log_text = Path(runner.logger.log_file).read_text()
    assert ('Failed to import `None.registry`' in log_text) is not filtered


def test_schedule_past_training_warned(tmp_path):
    from vidft.engine.runner import schedule_past_training

    cfg = engine_toy.make_config(str(tmp_path / 'work'), max_iters=4,
                                 log_level='WARNING')
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=2),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=2, end=10,
             T_max=8),
        dict(type='StepLR', step_size=1, by_epoch=True, end=50),
        dict(type='CosineAnnealingLR', by_epoch=False, T_max=16),
        dict(type='ConstantLR', by_epoch=False, begin=6, end=8),
    ]

    assert schedule_past_training(cfg) == [
        'param_scheduler[1] (CosineAnnealingLR) ends at iteration 10, but '
        'training ends at iteration 4, so it stops 25% of the way through; '
        'set its end (and T_max) to fit the shorter run if that is not '
        'intended',
        'param_scheduler[3] (CosineAnnealingLR) ends at iteration 16, but '
        'training ends at iteration 4, so it stops 25% of the way through; '
        'set its end (and T_max) to fit the shorter run if that is not '
        'intended',
        'param_scheduler[4] (ConstantLR) starts at iteration 6, but training '
        'ends at iteration 4, so it never runs; set its begin and end to fit '
        'the shorter run if that is not intended']
    runner = build_runner(cfg)
    logs = engine_toy.capture_logs(runner)
    runner.train()
    assert 'param_scheduler[1] (CosineAnnealingLR) ends at iteration 10' \
        in logs.text()
