"""load_config: _base_ inheritance, --cfg-options and the default runtime."""
from pathlib import Path

import pytest

from vidft.config import ConfigError, load_config, parse_cfg_options

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RUNTIME = REPO / 'configs' / '_base_' / 'default_runtime.py'

BASE = '''
default_scope = 'vidft'
model = dict(
    type='recognition.Recognizer2D',
    backbone=dict(type='TimmBackbone', model_name='resnet18', drop_rate=0.2),
    cls_head=dict(type='ClsHead', num_classes=400, in_channels=512))
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=5)
custom_hooks = [dict(type='EMAHook', momentum=0.001)]
train_pipeline = [dict(type='VideoDecode')]
'''

SCHEDULE = '''
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', milestones=[20, 40])]
'''

CHILD = '''
_base_ = ['./base.py', './schedule.py']
model = dict(cls_head=dict(num_classes=10), backbone=dict(_delete_=True,
             type='TorchvisionBackbone', name='resnet18'))
train_cfg = dict(max_epochs=12)
train_pipeline = [dict(type='VideoDecode'), dict(type='Flip')]
'''


@pytest.fixture
def child(tmp_path) -> str:
    (tmp_path / 'base.py').write_text(BASE)
    (tmp_path / 'schedule.py').write_text(SCHEDULE)
    path = tmp_path / 'child.py'
    path.write_text(CHILD)
    return str(path)


def test_base_inheritance_merges_dicts(child):
    cfg = load_config(child)

    assert cfg.model.cls_head.num_classes == 10
    assert cfg.model.cls_head.in_channels == 512
    assert cfg.model.type == 'recognition.Recognizer2D'
    assert cfg.train_cfg.max_epochs == 12
    assert cfg.train_cfg.val_interval == 5
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.param_scheduler[0].milestones == [20, 40]


def test_base_inheritance_replaces_lists_and_deleted_dicts(child):
    cfg = load_config(child)

    assert [step.type for step in cfg.train_pipeline] == ['VideoDecode',
                                                          'Flip']
    assert cfg.model.backbone.to_dict() == dict(type='TorchvisionBackbone',
                                                name='resnet18')


def test_cfg_options_override_after_bases(child):
    cfg = load_config(child, [
        'train_cfg.max_epochs=3',
        'model.cls_head.num_classes=101',
        'optim_wrapper.optimizer.lr=0.05',
        'param_scheduler.0.milestones=[1,2]',
        'model.backbone.out_indices=(1,2,3)',
        'model.backbone.norm_eval=true',
        'load_from=None',
    ])

    assert cfg.train_cfg.max_epochs == 3
    assert cfg.train_cfg.val_interval == 5
    assert cfg.model.cls_head.num_classes == 101
    assert cfg.model.cls_head.in_channels == 512
    assert cfg.optim_wrapper.optimizer.lr == 0.05
    assert cfg.param_scheduler[0].milestones == [1, 2]
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    assert cfg.model.backbone.norm_eval is True
    assert cfg.load_from is None


def test_cfg_options_as_dict(child):
    cfg = load_config(child, {'train_cfg.max_epochs': 4,
                              'randomness.seed': 7})

    assert cfg.train_cfg.max_epochs == 4
    assert cfg.randomness.seed == 7


def test_cfg_options_dict_type_error_is_reported(child):
    with pytest.raises(ConfigError) as info:
        load_config(child, {'train_cfg.max_epochs': '4'})

    assert info.value.keys == ['train_cfg.max_epochs']
    assert "(from --cfg-options train_cfg.max_epochs='4')" in str(info.value)


def test_parse_cfg_options_types():
    values = parse_cfg_options(['a=1', 'b=0.5', 'c=True', 'd=None', 'e=x',
                                'f=1,2', 'g=[a,(1,2)]', 'h.i=k=v'])

    assert values == {'a': 1, 'b': 0.5, 'c': True, 'd': None, 'e': 'x',
                      'f': [1, 2], 'g': ['a', (1, 2)], 'h.i': 'k=v'}


@pytest.mark.parametrize('item', ['max_epochs', '=3'])
def test_cfg_option_without_key_value_form(child, item):
    with pytest.raises(ConfigError, match='expected KEY=VALUE'):
        load_config(child, [item])


def test_cfg_option_with_unbalanced_brackets(child):
    with pytest.raises(ConfigError, match='unbalanced brackets') as info:
        load_config(child, ['param_scheduler.0.milestones=[1,2'])

    assert info.value.keys == ['param_scheduler.0.milestones']


@pytest.mark.parametrize('item, example', [
    ('param_scheduler=[dict(type="StepLR",step_size=1)]',
     'param_scheduler.0.type=NAME'),
    ('model.backbone={"type":"ResNet"}', 'model.backbone.type=NAME'),
])
def test_cfg_option_with_dict_is_rejected(child, item, example):
    with pytest.raises(ConfigError) as info:
        load_config(child, [item])

    assert info.value.keys == [item.partition('=')[0]]
    assert 'contains a dict, which --cfg-options cannot parse' in \
        str(info.value)
    assert f'as in {example}' in str(info.value)


def test_cfg_option_braces_in_string_pass():
    values = parse_cfg_options(['filename_tmpl={:08d}.png',
                                'work_dir=runs/dict(a)',
                                """name=runs/{'a'}"""])

    assert values == {'filename_tmpl': '{:08d}.png',
                      'work_dir': 'runs/dict(a)', 'name': "runs/{'a'}"}


def test_cfg_option_into_non_dict_is_config_error(child):
    with pytest.raises(ConfigError) as info:
        load_config(child, ['default_scope.name=vidft'])

    assert info.value.keys == ['default_scope.name']
    assert 'cannot apply --cfg-options default_scope.name=vidft' in \
        str(info.value)


def test_cfg_option_creating_typo_key(child):
    with pytest.raises(ConfigError) as info:
        load_config(child, ['optim_wraper.optimizer.lr=0.1'])

    assert "did you mean 'optim_wrapper'?" in str(info.value)
    assert '(from --cfg-options optim_wraper.optimizer.lr=0.1)' in \
        str(info.value)


def test_missing_config_file(tmp_path):
    path = str(tmp_path / 'absent.py')

    with pytest.raises(FileNotFoundError, match='absent.py'):
        load_config(path)


def test_default_runtime_is_valid():
    cfg = load_config(str(DEFAULT_RUNTIME))

    assert cfg.default_scope == 'vidft'
    hooks = {name: hook.type for name, hook in cfg.default_hooks.items()}
    assert hooks == {'timer': 'IterTimerHook', 'logger': 'LoggerHook',
                     'param_scheduler': 'ParamSchedulerHook',
                     'checkpoint': 'CheckpointHook',
                     'sampler_seed': 'DistSamplerSeedHook'}
    assert cfg.log_processor.by_epoch is True
    assert [backend.type for backend in cfg.visualizer.vis_backends] == \
        ['LocalVisBackend']
    assert set(cfg.env_cfg) == {'cudnn_benchmark', 'mp_cfg', 'dist_cfg'}


def test_default_runtime_as_base(tmp_path):
    path = tmp_path / 'recipe.py'
    path.write_text(f'_base_ = [{str(DEFAULT_RUNTIME)!r}]\n'
                    "default_hooks = dict(checkpoint=dict(interval=5))\n")

    cfg = load_config(str(path), ['randomness.seed=3'])

    assert cfg.default_hooks.checkpoint.interval == 5
    assert cfg.default_hooks.checkpoint.type == 'CheckpointHook'
    assert cfg.default_hooks.logger.interval == 20
    assert cfg.randomness.seed == 3


def test_syntax_error_names_file_and_line(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text("optim_wrapper = dict(type='OptimWrapper')\n"
                      'model = dict(\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(broken))
    message = str(info.value)
    assert 'broken.py' in message
    assert 'line 2' in message
    assert 'fix the Python syntax' in message


def test_field_of_list_option_gets_index_hint(tmp_path):
    path = tmp_path / 'metrics.py'
    path.write_text("val_evaluator = [dict(type='AccuracyMetric'), "
                    "dict(type='ConfusionMatrix')]\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path), ['val_evaluator.type=AccMetric'])
    message = str(info.value)
    assert 'val_evaluator is a list of 2 here' in message
    assert 'e.g. val_evaluator.0.type' in message
