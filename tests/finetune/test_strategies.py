"""apply_strategy: each named strategy rewrites the config as documented."""
import pytest
from mmengine.config import Config

from vidft.finetune import STRATEGIES, apply_strategy
from vidft.finetune.strategies import DEFAULT_LORA


def base_config(**overrides) -> Config:
    cfg = dict(
        model=dict(
            type='recognition.Recognizer2D',
            backbone=dict(type='TimmBackbone', model_name='efficientnet_lite0',
                          pretrained='timm://efficientnet_lite0',
                          key_map='efficientnet_lite', frozen_stages=1),
            cls_head=dict(type='ClsHead', num_classes=4, in_channels=1280,
                          init_cfg=dict(type='Pretrained',
                                        checkpoint='head.pth'))),
        train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=8),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        custom_hooks=[dict(type='EMAHook')],
        load_from='init.pth')
    cfg.update(overrides)
    return Config(cfg)


def test_full_unfreezes_stages_only():
    cfg = base_config()
    full = apply_strategy(cfg, 'full')
    assert full.model.backbone.frozen_stages == -1
    assert full.model.backbone.pretrained == 'timm://efficientnet_lite0'
    assert full.load_from == 'init.pth'
    assert full.custom_hooks == [dict(type='EMAHook')]
    # The input config is not changed.
    assert cfg.model.backbone.frozen_stages == 1


@pytest.mark.parametrize('name', ['linear_probe', 'bitfit'])
def test_probe_strategies_wrap_model(name):
    cfg = apply_strategy(base_config(), name)
    assert cfg.model.type == 'PeftModel'
    assert cfg.model.peft == dict(method=name, target='backbone')
    assert cfg.model.model.type == 'recognition.Recognizer2D'
    assert cfg.model.model.backbone.frozen_stages == -1


def test_lora_default_and_given_options():
    cfg = apply_strategy(base_config(), 'lora')
    expected = dict(DEFAULT_LORA, target_types=list(
        DEFAULT_LORA['target_types']))
    assert cfg.model.peft == expected

    options = dict(target_modules=['*.conv_pw'], r=4)
    cfg = apply_strategy(base_config(), 'lora', peft=options,
                         target='backbone')
    assert cfg.model.peft == dict(target_modules=['*.conv_pw'], r=4,
                                  method='lora', target='backbone',
                                  lora_alpha=16, lora_dropout=0.0)

    # Only the rank given: the default layer types and scaling fill in.
    cfg = apply_strategy(base_config(), 'lora', peft=dict(r=2))
    assert cfg.model.peft == dict(expected, r=2)


def test_lora_reuses_wrapped_options():
    lora = apply_strategy(base_config(), 'lora', peft=dict(
        target_types=['Conv2d'], r=2))
    again = apply_strategy(lora, 'lora')
    assert again.model.peft == lora.model.peft
    assert again.model.model.type == 'recognition.Recognizer2D'


def test_lora_learning_rate_options():
    cfg = base_config(optim_wrapper=dict(
        optimizer=dict(type='AdamW', lr=1e-3),
        paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=10.0)})))

    lora = apply_strategy(cfg, 'lora', lr_mult=2.0, loraplus_lr_ratio=4.0)

    assert lora.optim_wrapper.paramwise_cfg.custom_keys == {
        'cls_head': dict(lr_mult=10.0), 'lora_': dict(lr_mult=2.0),
        'lora_B': dict(lr_mult=8.0)}
    full = apply_strategy(lora, 'full')
    assert full.optim_wrapper.paramwise_cfg.custom_keys == {
        'cls_head': dict(lr_mult=10.0)}
    plus_only = apply_strategy(cfg, 'lora', loraplus_lr_ratio=16)
    assert set(plus_only.optim_wrapper.paramwise_cfg.custom_keys) == {
        'cls_head', 'lora_B'}


def test_strategies_undo_each_other():
    lora = apply_strategy(base_config(), 'lora')
    full = apply_strategy(lora, 'full')
    assert full.model.type == 'recognition.Recognizer2D'
    unfreeze = apply_strategy(base_config(), 'unfreeze')
    probe = apply_strategy(unfreeze, 'linear_probe')
    assert [h['type'] for h in probe.custom_hooks] == ['EMAHook']


def test_unfreeze_adds_hook_and_ddp_option():
    cfg = apply_strategy(base_config(), 'unfreeze')
    hook = cfg.custom_hooks[-1]
    assert hook == dict(type='UnfreezeHook', patterns=['backbone'],
                        unfreeze_at=2, by_epoch=True, lr_mult=1.0)
    assert cfg.find_unused_parameters is True
    assert cfg.model.backbone.frozen_stages == -1

    iters = base_config(train_cfg=dict(type='IterBasedTrainLoop',
                                       max_iters=100),
                        model_wrapper_cfg=dict(
                            type='MMDistributedDataParallel'))
    cfg = apply_strategy(iters, 'unfreeze', unfreeze_at=10, lr_mult=0.1)
    hook = cfg.custom_hooks[-1]
    assert hook['by_epoch'] is False
    assert hook['unfreeze_at'] == 10
    assert hook['lr_mult'] == 0.1
    assert cfg.model_wrapper_cfg.find_unused_parameters is True


def test_unfreeze_rejects_late_start():
    with pytest.raises(ValueError, match='never train'):
        apply_strategy(base_config(), 'unfreeze', unfreeze_at=8)


def test_scratch_removes_every_weight_source():
    cfg = apply_strategy(base_config(), 'scratch')
    assert cfg.model.backbone.pretrained is None
    assert cfg.model.backbone.key_map is None
    assert cfg.model.backbone.frozen_stages == -1
    assert cfg.model.cls_head.init_cfg is None
    assert cfg.load_from is None

    video = base_config(model=dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.TorchvisionVideoBackbone',
                      name='r2plus1d_18',
                      weights='torchvision://R2Plus1D_18_Weights.KINETICS400_V1'),
        cls_head=dict(type='ClsHead', num_classes=4, in_channels=512)))
    cfg = apply_strategy(video, 'scratch')
    assert cfg.model.backbone.weights is None


def test_scratch_of_lora_config_unwraps():
    cfg = apply_strategy(apply_strategy(base_config(), 'lora'), 'scratch')
    assert cfg.model.type == 'recognition.Recognizer2D'
    assert cfg.model.backbone.pretrained is None


@pytest.mark.parametrize('name, options, message', [
    ('finetune_all', {}, 'expected a strategy'),
    ('full', dict(r=4), 'takes the options'),
    ('lora', dict(peft=dict(method='bitfit')), "method='lora'"),
    ('lora', dict(loraplus_lr_ratio=0), 'loraplus_lr_ratio to be a finite'),
])
def test_invalid_strategy_requests_raise(name, options, message):
    with pytest.raises(ValueError, match=message):
        apply_strategy(base_config(), name, **options)


def test_every_strategy_is_named():
    assert set(STRATEGIES) == {'full', 'linear_probe', 'bitfit', 'lora',
                               'unfreeze', 'scratch'}
