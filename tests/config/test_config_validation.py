"""Validation of configs: unknown, legacy and helper keys, types, scopes."""
import inspect
import sys

import pytest
from mmengine.config import Config

from vidft.config import ConfigError, load_config, validate_config
from vidft.config import schema

VALID = dict(
    default_scope='vidft',
    model=dict(type='recognition.Recognizer2D', backbone=dict(depth=50)),
    train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1),
    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
    randomness=dict(seed=0),
)


def _config(**changes) -> Config:
    values = {**VALID, **changes}
    return Config(values)


def _problems(cfg: Config) -> dict:
    with pytest.raises(ConfigError) as info:
        validate_config(cfg)
    return dict(info.value.problems)


def _load_problems(path: str, options: list) -> dict:
    with pytest.raises(ConfigError) as info:
        load_config(path, options)
    return dict(info.value.problems)


@pytest.fixture
def recipe(tmp_path) -> str:
    path = tmp_path / 'recipe.py'
    path.write_text(''.join(f'{key} = {value!r}\n'
                            for key, value in VALID.items()))
    return str(path)


def test_valid_config_passes():
    validate_config(_config())


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)


def test_config_error_without_source():
    single = ConfigError([('model', 'missing')])
    assert str(single) == 'invalid config: model: missing'
    several = ConfigError([('model', 'missing'), ('seed', 'expected int')])
    assert str(several).startswith('invalid config (2 problems):\n')


def test_typo_suggests_runner_key(recipe):
    with open(recipe, 'a') as f:
        f.write('optim_wraper = dict(optimizer=dict(lr=0.1))\n')

    with pytest.raises(ConfigError) as info:
        load_config(recipe)

    assert info.value.keys == ['optim_wraper']
    assert info.value.source == recipe
    assert str(info.value) == (
        f'invalid config {recipe}: optim_wraper: unknown top-level key; '
        "did you mean 'optim_wrapper'?")


@pytest.mark.parametrize('typo, key', [
    ('val_evaluater', 'val_evaluator'),
    ('train_dataloder', 'train_dataloader'),
    ('visualiser', 'visualizer'),
    ('env_config', 'env_cfg'),
])
def test_typos_suggest_their_key(typo, key):
    problems = _problems(_config(**{typo: dict()}))

    assert f"did you mean '{key}'" in problems[typo]


@pytest.mark.parametrize('legacy, replacement', [
    ('optimizer', 'optim_wrapper=dict(optimizer=...)'),
    ('optimizer_config', 'optim_wrapper.clip_grad'),
    ('lr_config', 'param_scheduler'),
    ('momentum_config', 'param_scheduler'),
    ('checkpoint_config', 'default_hooks.checkpoint'),
    ('log_config', 'default_hooks.logger'),
    ('evaluation', 'val_evaluator'),
    ('total_epochs', 'train_cfg.max_epochs'),
    ('workflow', 'train_cfg.val_interval'),
    ('data', 'train_dataloader'),
    ('runner', "type='EpochBasedTrainLoop'"),
    ('dist_params', 'env_cfg.dist_cfg'),
    ('resume_from', 'resume=True'),
    ('seed', 'randomness.seed'),
])
def test_legacy_key_names_replacement(legacy, replacement):
    problems = _problems(_config(**{legacy: dict(placeholder=1)}))

    assert list(problems) == [legacy]
    assert 'mmcv 1.x / mmaction2 0.x' in problems[legacy]
    assert replacement in problems[legacy]


def test_legacy_nested_key_names_replacement():
    problems = _problems(_config(test_cfg=dict(average_clips='prob')))

    assert 'model.cls_head.average_clips' in problems['test_cfg.average_clips']


@pytest.mark.parametrize('option, key, expected, given', [
    ('train_cfg.max_epochs=abc', 'train_cfg.max_epochs', 'int', "str 'abc'"),
    ('randomness.seed=x', 'randomness.seed', 'int', "str 'x'"),
    ('default_scope=3', 'default_scope', 'str', 'int 3'),
    ('env_cfg.cudnn_benchmark=1', 'env_cfg.cudnn_benchmark', 'bool', 'int 1'),
    ('train_dataloader.batch_size=2.5', 'train_dataloader.batch_size', 'int',
     'float 2.5'),
    ('resume=3', 'resume', 'bool or str', 'int 3'),
    ('skip_nonfinite=yes', 'skip_nonfinite', 'bool', "str 'yes'"),
])
def test_wrong_type_from_cfg_options(recipe, option, key, expected, given):
    problems = _load_problems(recipe, [option])

    assert list(problems) == [key]
    assert f'expected {expected}, got {given}' in problems[key]
    assert f'(from --cfg-options {option})' in problems[key]


@pytest.mark.parametrize('value', ['True', 'auto', 'work_dirs/epoch_3.pth'])
def test_resume_accepts_bool_auto_and_path(recipe, value):
    cfg = load_config(recipe, [f'resume={value}'])

    assert cfg.resume == (True if value == 'True' else value)


def test_accepted_overrides_pass(recipe):
    cfg = load_config(recipe, [
        'optim_wrapper.optimizer.lr=1',  # an int is accepted for a float
        'randomness.seed=None',
        'train_cfg.max_epochs=9',
        'launcher=pytorch',
        'optim_wrapper.optimizer.nesterov=True',
        'train_cfg.dynamic_intervals=[(2,1)]',
    ])

    assert cfg.optim_wrapper.optimizer.lr == 1
    assert cfg.randomness.seed is None
    assert cfg.train_cfg.max_epochs == 9


def test_choices_are_checked(recipe):
    problems = _load_problems(recipe, ['launcher=torchrun', 'log_level=info'])

    assert "expected one of 'none', 'pytorch', 'slurm', 'mpi', got " \
        "'torchrun'" in problems['launcher']
    assert "got 'info'" in problems['log_level']


def test_none_rejected_where_mmengine_needs_value():
    problems = _problems(_config(default_scope=None))

    assert problems['default_scope'] == 'expected str, got None'


@pytest.mark.parametrize('key, value, expected', [
    ('param_scheduler', 'cosine', 'expected dict or list or tuple'),
    ('custom_hooks', dict(type='EMAHook'), 'expected list or tuple'),
    ('train_cfg', 10, 'expected dict'),
    ('model', [dict(type='A')], 'expected dict'),
])
def test_container_kinds_are_checked(key, value, expected):
    problems = _problems(_config(**{key: value}))

    assert problems[key].startswith(expected)


@pytest.mark.parametrize('section, typo, suggestion', [
    ('env_cfg', 'cudnn_benchmrk', 'cudnn_benchmark'),
    ('randomness', 'sed', 'seed'),
    ('auto_scale_lr', 'enabled', 'enable'),
])
def test_closed_section_rejects_unknown_key(section, typo, suggestion):
    problems = _problems(_config(**{section: {typo: True}}))

    key = f'{section}.{typo}'
    assert f"did you mean '{suggestion}'?" in problems[key]


def test_open_section_accepts_component_arguments():
    validate_config(_config(
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=2,
                       dynamic_intervals=[(1, 1)]),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                           rule='greater', interval=2))))


@pytest.mark.parametrize('name', [
    'train_pipeline', 'val_pipeline', 'dataset_type', 'data_root',
    'data_root_val', 'ann_file_train', 'ann_file_test', 'file_client_args',
    'backend_args', '_clip_len', '_num_classes',
])
def test_helper_variables_are_allowed(name):
    validate_config(_config(**{name: 'value'}))


def test_unknown_name_asks_for_underscore():
    problems = _problems(_config(num_frames=16))

    assert "rename it to '_num_frames'" in problems['num_frames']


def test_suggestion_and_helper_hint_together():
    problems = _problems(_config(train_dataset=dict()))

    assert "did you mean 'train_dataloader'?" in problems['train_dataset']
    assert "a name such as '_train_dataset'" in problems['train_dataset']


@pytest.mark.parametrize('helper, key', [
    ('_optim_wrapper', 'optim_wrapper'),
    ('_default_hooks', 'default_hooks'),
    ('__val_dataloader', 'val_dataloader'),
])
def test_helper_close_to_runner_key_is_error(helper, key):
    cfg = Config({**VALID, helper: dict()})

    problems = _problems(cfg)

    assert f"too close to the config key '{key}'" in problems[helper]


def test_all_problems_reported_together():
    with pytest.raises(ConfigError) as info:
        validate_config(_config(optim_wraper=dict(), lr_config=dict(),
                                num_frames=8,
                                randomness=dict(seed='x')))

    assert info.value.keys == ['randomness.seed', 'optim_wraper',
                               'lr_config', 'num_frames']
    assert '(4 problems)' in str(info.value)


def test_unknown_scope_suggests_plugin(fake_plugins):
    fake_plugins.add('okplug', 'VALUE = 1\n')

    problems = _problems(_config(
        default_scope='okplgu',
        model=dict(type='okplgu.Net', head=dict(type='vidft.ClsHead')),
        optim_wrapper=dict(optimizer=dict(type='torch.optim.SGD', lr=0.1))))

    assert "Did you mean 'okplug'?" in problems['default_scope']
    assert "unknown scope 'okplgu'" in problems['model.type']
    assert 'model.head.type' not in problems
    assert 'optim_wrapper.optimizer.type' not in problems


def test_lazy_import_config_names_are_skipped(tmp_path):
    path = tmp_path / 'lazy.py'
    path.write_text(
        'from mmengine.runner import EpochBasedTrainLoop\n'
        "default_scope = 'vidft'\n"
        'train_cfg = dict(type=EpochBasedTrainLoop, max_epochs=2)\n')

    cfg = load_config(str(path))

    assert cfg.train_cfg.max_epochs == 2


def test_accepted_keys_cover_runner_arguments():
    from mmengine.runner import Runner

    arguments = set(inspect.signature(Runner.__init__).parameters)
    arguments -= {'self', 'cfg'}

    assert arguments <= set(schema.RUNNER_KEYS), \
        arguments - set(schema.RUNNER_KEYS)


def test_typed_keys_are_accepted_keys():
    typed = schema.typed_defaults()

    assert set(typed) <= set(schema.ACCEPTED_KEYS)
    assert {key.split('.')[0] for key in schema.KINDS} <= \
        set(schema.ACCEPTED_KEYS)


def test_scope_registered_by_custom_imports(tmp_path, monkeypatch):
    (tmp_path / 'vidft_lab_components.py').write_text(
        'from vidft.registry import scoped_registries\n'
        "registries = scoped_registries('mylab')\n"
        '@registries.MODELS.register_module()\n'
        'class LabNet:\n'
        '    pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / 'recipe.py'
    path.write_text("custom_imports = dict(imports=['vidft_lab_components'])\n"
                    "default_scope = 'vidft'\n"
                    "model = dict(type='mylab.LabNet')\n")
    try:
        cfg = load_config(str(path))
    finally:
        from vidft.registry import drop_scope
        drop_scope('mylab')
        sys.modules.pop('vidft_lab_components', None)

    assert cfg.model.type == 'mylab.LabNet'


def test_misspelt_loop_argument_is_named_with_a_suggestion():
    problems = _problems(_config(
        train_cfg=dict(type='EpochBasedTrainLoop', max_epoch=3),
        val_cfg=dict(type='ValLoop', fp16=False, interval=2)))
    assert set(problems) == {'train_cfg.max_epoch', 'val_cfg.interval'}
    assert "did you mean 'max_epochs'?" in problems['train_cfg.max_epoch']
    assert 'EpochBasedTrainLoop' in problems['train_cfg.max_epoch']
    assert 'fp16' in problems['val_cfg.interval']


def test_by_epoch_shorthand_picks_loop():
    # by_epoch=False makes the Runner build IterBasedTrainLoop.
    problems = _problems(_config(
        train_cfg=dict(by_epoch=False, max_epochs=3)))
    assert "did you mean 'max_iters'?" in problems['train_cfg.max_epochs']
    validate_config(_config(train_cfg=dict(by_epoch=False, max_iters=3,
                                           val_interval=1)))


def test_train_loop_needs_type_or_by_epoch():
    problems = _problems(_config(train_cfg=dict(max_epochs=3)))
    assert "'by_epoch'" in problems['train_cfg']


def test_unknown_loop_type_is_named():
    problems = _problems(_config(train_cfg=dict(type='NoSuchLoop')))
    assert 'NoSuchLoop' in problems['train_cfg.type']


def test_misspelt_dataset_argument_is_named():
    problems = _problems(_config(val_dataloader=dict(
        batch_size=1,
        dataset=dict(type='recognition.VideoDataset', ann_file='val.txt',
                     pipline=[]))))
    assert set(problems) == {'val_dataloader.dataset.pipline'}
    assert "did you mean 'pipeline'?" in problems['val_dataloader.dataset.pipline']


def test_dataset_arguments_of_parent_classes_pass():
    # serialize_data reaches mmengine's BaseDataset through the **kwargs of
    # two recognition dataset classes.
    validate_config(_config(val_dataloader=dict(
        batch_size=1,
        dataset=dict(type='recognition.VideoDataset', ann_file='val.txt',
                     test_mode=True, serialize_data=False))))


def test_datasets_inside_wrappers_are_checked():
    good = dict(type='recognition.VideoDataset', ann_file='a.txt')
    bad = dict(type='recognition.VideoDataset', ann_file='b.txt',
               frame_rang=(0, 8))
    problems = _problems(_config(train_dataloader=dict(
        batch_size=1,
        dataset=dict(type='RepeatDataset', times=2, dataset=dict(
            type='ConcatDataset', datasets=[good, bad])))))
    key = 'train_dataloader.dataset.dataset.datasets[1].frame_rang'
    assert set(problems) == {key}
    assert 'VideoDataset takes no argument' in problems[key]


def test_dataset_scope_key_resolves_type():
    problems = _problems(_config(val_dataloader=dict(
        batch_size=1,
        dataset=dict(type='VideoDataset', _scope_='recognition',
                     ann_file='val.txt', pipline=[]))))
    assert set(problems) == {'val_dataloader.dataset.pipline'}


@pytest.mark.parametrize('kind, suggestion', [
    ('recognition.VideoDatset', "Did you mean 'recognition.VideoDataset'"),
    ('BaseVideoDatset', "Did you mean 'BaseVideoDataset'"),
])
def test_unregistered_dataset_type_is_named(kind, suggestion):
    problems = _problems(_config(val_dataloader=dict(
        batch_size=1, dataset=dict(type=kind, ann_file='val.txt'))))
    assert set(problems) == {'val_dataloader.dataset.type'}
    assert f"'{kind}' is not registered" in problems['val_dataloader.dataset.type']
    assert suggestion in problems['val_dataloader.dataset.type']


def test_dataset_of_unknown_scope_reported_once():
    problems = _problems(_config(val_dataloader=dict(
        batch_size=1, dataset=dict(type='recognitoin.VideoDataset'))))
    assert set(problems) == {'val_dataloader.dataset.type'}
    assert "unknown scope 'recognitoin'" in problems['val_dataloader.dataset.type']


def test_dataset_argument_types_are_checked():
    problems = _problems(_config(train_dataloader=dict(
        batch_size=1,
        dataset=dict(type='RepeatDataset', times='two', dataset=dict(
            type='recognition.VideoDataset', ann_file='a.txt',
            start_index='0', test_mode='yes', num_classes=None,
            max_bad_fraction=0)))))
    assert problems == {
        'train_dataloader.dataset.times':
            "RepeatDataset expects int, got str 'two'",
        'train_dataloader.dataset.dataset.start_index':
            "VideoDataset expects int, got str '0'",
        'train_dataloader.dataset.dataset.test_mode':
            "VideoDataset expects bool, got str 'yes'",
    }


@pytest.mark.parametrize('changes, key, message', [
    (dict(optim_wrapper=dict(optimizer=dict(type='SGD', lrr=0.1))),
     'optim_wrapper.optimizer.lrr', "SGD takes no argument 'lrr'; did you mean 'lr'?"),
    (dict(default_hooks=dict(logger=dict(type='LoggerHook', intervall=5))),
     'default_hooks.logger.intervall', "did you mean 'interval'?"),
    (dict(custom_hooks=[dict(type='LoggerHook', interval='two')]),
     'custom_hooks[0].interval', "LoggerHook expects int, got str 'two'"),
    (dict(model=dict(type='recognition.Recogniser2D')),
     'model.type', "Did you mean 'recognition.Recognizer2D'"),
    (dict(model=dict(type='recognition.Recognizer2D', cls_head=dict(
        type='ClsHead', num_classes=5, in_channels=8, dropout=0.5))),
     'model.cls_head.dropout', "did you mean 'dropout_ratio'?"),
    (dict(val_evaluator=[dict(type='AccuracyMetric'), dict(type='AccMetrc')]),
     'val_evaluator[1].type', "Did you mean 'AccuracyMetric'?"),
    (dict(val_dataloader=dict(batch_size=1, dataset=dict(
        type='recognition.VideoDataset', ann_file='val.txt',
        pipeline=[dict(type='SampleFrames', clip_len=8), dict(type='Flipp')]))),
     'val_dataloader.dataset.pipeline[1].type', "Did you mean 'Flip'"),
    (dict(train_dataloader=dict(batchsize=2)),
     'train_dataloader.batchsize', "did you mean 'batch_size'?"),
    (dict(train_dataloader=dict(batch_size=0)),
     'train_dataloader.batch_size', 'expected a batch size >= 1, got 0'),
    (dict(train_dataloader=dict(batch_size=2, persistent_workers=True)),
     'train_dataloader.persistent_workers', 'need num_workers > 0'),
    (dict(train_dataloader=dict(
        batch_size=2, sampler=dict(type='DefaultSampler', shufle=True))),
     'train_dataloader.sampler.shufle', "did you mean 'shuffle'?"),
    (dict(param_scheduler=[
        dict(type='LinearLR', start_factor=0.1, end=1),
        dict(type='CosineAnealingLR', T_max=8)]),
     'param_scheduler[1].type', "Did you mean 'CosineAnnealingLR'"),
    (dict(param_scheduler=dict(type='CosineAnnealingLR', T_maxx=8)),
     'param_scheduler.T_maxx', "did you mean 'T_max'?"),
    (dict(param_scheduler=dict(generator=[
        dict(type='MultiStepLR', milestones=[2], gama=0.5)])),
     'param_scheduler.generator[0].gama', "did you mean 'gamma'?"),
    (dict(param_scheduler=dict(type='CosineAnnealingLR', T_max=2,
                               param_name='momentum')),
     'param_scheduler.param_name', 'CosineAnnealingLR sets param_name'),
])
def test_built_components_are_checked(changes, key, message):
    problems = _problems(_config(**changes))
    assert set(problems) == {key}
    assert message in problems[key]


def test_topk_above_num_classes_reported():
    model = dict(type='recognition.Recognizer2D', cls_head=dict(
        type='ClsHead', num_classes=4, in_channels=8))
    problems = _problems(_config(
        model=model, val_evaluator=[dict(type='AccuracyMetric', topk=(1, 5))],
        test_evaluator=dict(type='AccuracyMetric', topk=3)))

    assert set(problems) == {'val_evaluator[0].topk'}
    message = problems['val_evaluator[0].topk']
    assert ('top-5 accuracy needs at least 5 classes, but '
            'model.cls_head.num_classes is 4') in message
    assert 'use topk=(1,)' in message


def test_scheduler_build_keys_pass():
    validate_config(_config(param_scheduler=[
        dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
             end=1, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=2, eta_min=0, begin=1, end=3)]))


def test_mmengine_types_resolve_in_fresh_process():
    import subprocess

    # A fresh process: mmengine registers its samplers and schedulers only
    # when its modules are imported, which the check itself must do.
    code = (
        'from mmengine.config import Config\n'
        'from vidft.config import validate_config\n'
        "validate_config(Config(dict(default_scope='vidft', "
        "train_dataloader=dict(batch_size=1, sampler=dict("
        "type='DefaultSampler')), param_scheduler=dict("
        "type='CosineAnnealingParamScheduler', param_name='lr', "
        'T_max=2))))\n')
    result = subprocess.run([sys.executable, '-c', code],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_scheduler_problem_names_its_option(recipe):
    with open(recipe, 'a') as f:
        f.write("param_scheduler = [dict(type='StepLR', step_size=1)]\n")

    problems = _load_problems(recipe, ['param_scheduler.0.step_sise=2'])

    assert set(problems) == {'param_scheduler[0].step_sise'}
    assert ('from --cfg-options param_scheduler.0.step_sise=2'
            in problems['param_scheduler[0].step_sise'])


def test_open_kwargs_dataset_not_checked():
    class OpenDataset:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    validate_config(_config(train_dataloader=dict(
        batch_size=1, dataset=dict(type=OpenDataset, anything=1))))


def test_dataloader_not_a_dict_is_reported():
    problems = _problems(_config(train_dataloader='loader'))
    assert set(problems) == {'train_dataloader'}
