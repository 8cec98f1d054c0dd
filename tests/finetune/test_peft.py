"""LoRA, BitFit and linear probing through vidft.finetune.peft."""
import logging
from typing import Any, Dict

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from torch import nn

from vidft import plugins
from vidft.finetune import apply_peft, count_parameters
from vidft.registry import MODELS

NUM_CLASSES = 3


@pytest.fixture(autouse=True)
def vidft_scope():
    plugins.load_scope('recognition')
    with DefaultScope.overwrite_default_scope('vidft'):
        yield


def video_recognizer(weights: Any = None) -> Dict[str, Any]:
    """Recognizer3D with torchvision's R(2+1)D-18 and a 3-class head."""
    return dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.TorchvisionVideoBackbone',
                      name='r2plus1d_18', weights=weights),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES,
                      in_channels=512),
        data_preprocessor=dict(type='VideoDataPreprocessor', mean=[0.0] * 3,
                               std=[1.0] * 3, format_shape='NCTHW'))


def image_recognizer(model_name: str, pretrained: Any = None,
                     **model_kwargs: Any) -> Dict[str, Any]:
    """Recognizer2D (TSN) with one of timm's small test architectures."""
    return dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name=model_name,
                      pretrained=pretrained, model_kwargs=model_kwargs),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES),
        data_preprocessor=dict(type='VideoDataPreprocessor', mean=[0.0] * 3,
                               std=[1.0] * 3, format_shape='NCHW'))




def clip_batch(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 4, 16, 16, generator=generator)


def test_lora_conv3d_by_type_r2plus1d():
    model = MODELS.build(dict(type='PeftModel', model=video_recognizer(),
                              peft=dict(method='lora', target_types=['Conv3d'],
                                        r=2, lora_alpha=4)))
    report = model.peft_report
    backbone = model.model.backbone

    # Every Conv3d of the backbone is adapted.
    conv3d = [n for n, m in MODELS.build(video_recognizer()).backbone
              .named_modules() if isinstance(m, nn.Conv3d)]
    assert sorted(report.adapted) == sorted(conv3d)
    assert len(conv3d) > 20
    lora_layers = [n for n, m in backbone.named_modules()
                   if hasattr(m, 'lora_A')]
    assert sorted(lora_layers) == sorted(conv3d)

    # Trainable: the LoRA matrices and the whole head, nothing else.
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    head = {n for n, _ in model.named_parameters() if '.cls_head.' in n}
    lora = {n for n, _ in model.named_parameters() if 'lora_' in n}
    assert trainable == head | lora
    expected = sum(p.numel() for n, p in model.named_parameters()
                   if n in head | lora)
    assert report.trainable == expected
    assert count_parameters(model)['trainable'] == expected
    assert report.trainable_fraction < 0.05


def test_lora_conv3d_forward_and_grad():
    model = MODELS.build(dict(type='PeftModel', model=video_recognizer(),
                              peft=dict(method='lora', target_types=['Conv3d'],
                                        r=2)))
    logits = model(clip_batch())
    assert logits.shape == (2, NUM_CLASSES)
    logits.sum().backward()
    lora_b = [p for n, p in model.named_parameters() if 'lora_B' in n]
    assert all(p.grad is not None for p in lora_b)
    base = [p for n, p in model.named_parameters() if 'base_layer' in n]
    assert base and all(p.grad is None for p in base)


def test_lora_linear_by_name_pattern():
    model = MODELS.build(dict(
        type='PeftModel',
        model=image_recognizer('test_vit', img_size=32),
        peft=dict(method='lora', target_modules=['*.attn.qkv'], r=4)))
    adapted = model.peft_report.adapted
    assert adapted
    assert all(name.endswith('.attn.qkv') for name in adapted)
    blocks = len(model.model.backbone.model.blocks)
    assert len(adapted) == blocks
    # The MLP layers match no pattern and stay plain, frozen layers.
    fc1 = model.model.backbone.model.blocks[0].mlp.fc1
    assert type(fc1) is nn.Linear
    assert not fc1.weight.requires_grad


def test_lora_pattern_and_type_intersect():
    model = MODELS.build(dict(
        type='PeftModel',
        model=image_recognizer('test_vit', img_size=32),
        peft=dict(method='lora', target_modules=['model.blocks.0.*'],
                  target_types=['Linear'], r=2)))
    adapted = model.peft_report.adapted
    assert adapted
    assert all(name.startswith('model.blocks.0.') for name in adapted)
    assert {'model.blocks.0.attn.qkv', 'model.blocks.0.mlp.fc1'} <= set(
        adapted)


def test_lora_skips_depthwise_by_type():
    model = MODELS.build(dict(
        type='PeftModel', model=image_recognizer('test_efficientnet'),
        peft=dict(method='lora', target_types=['Conv2d'], r=2)))
    report = model.peft_report
    assert report.skipped
    assert all(r.startswith('groups=') for r in report.skipped.values())
    modules = dict(model.model.backbone.named_modules())
    for name in report.skipped:
        assert isinstance(modules[name], nn.Conv2d)


@pytest.mark.parametrize('peft, message', [
    (dict(method='lora', target_modules=['*.nothing_here']), 'matches no'),
    (dict(method='lora', target_modules=['*.norm1']), 'LoRA adapts'),
    (dict(method='lora'), 'needs target_modules'),
    (dict(method='lora', target_types=['Conv4d']), 'expected target_types'),
    (dict(method='lora', target_types=['Linear'], rank=4), 'unknown LoRA'),
    (dict(method='prefix_tuning'), 'expected peft method'),
    (dict(method='bitfit', r=4), 'takes no options'),
    (dict(method='bitfit', target='neck'), 'not a module'),
])
def test_invalid_peft_options_raise(peft, message):
    model = MODELS.build(image_recognizer('test_vit', img_size=32))
    with pytest.raises(ValueError, match=message):
        apply_peft(model, peft)


def test_linear_probe_trains_head_only():
    model = MODELS.build(dict(type='PeftModel',
                              model=image_recognizer('test_efficientnet'),
                              peft=dict(method='linear_probe')))
    head = sum(p.numel() for p in model.model.cls_head.parameters())
    assert model.peft_report.trainable == head
    assert all(p.requires_grad for p in model.model.cls_head.parameters())
    # Frozen BatchNorm layers stay in eval mode through train().
    model.train()
    bns = [m for m in model.model.backbone.modules()
           if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.model.cls_head.training


def test_bitfit_trains_biases_and_head():
    model = MODELS.build(dict(type='PeftModel',
                              model=image_recognizer('test_efficientnet'),
                              peft=dict(method='bitfit')))
    backbone = model.model.backbone
    biases = sum(p.numel() for n, p in backbone.named_parameters()
                 if n.endswith('.bias'))
    head = sum(p.numel() for p in model.model.cls_head.parameters())
    assert biases > 0
    assert model.peft_report.trainable == biases + head
    for name, param in backbone.named_parameters():
        assert param.requires_grad == name.endswith('.bias'), name


def test_modules_to_save_train_in_full():
    model = MODELS.build(dict(
        type='PeftModel', model=image_recognizer('test_vit', img_size=32),
        peft=dict(method='lora', target_modules=['*.qkv'],
                  modules_to_save=['model.norm'])))
    norm = model.model.backbone.model.norm
    assert all(p.requires_grad for p in norm.parameters())
    assert model.peft_report.fully_trained == ['model.norm']


def test_summary_reaches_the_run_log(tmp_path):
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance('test_peft_summary', log_file=str(log_file))
    model = MODELS.build(dict(
        type='PeftModel', model=image_recognizer('test_vit', img_size=32),
        peft=dict(method='lora', target_modules=['*.qkv'], r=2)))
    for handler in logger.handlers:
        handler.flush()
    text = log_file.read_text()
    # The test's logger stays the current one; later tests must not write
    # to its file.
    for handler in list(logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logger.removeHandler(handler)
            handler.close()
    assert model.peft_report.summary() in text


def test_layer_groups_carry_wrapper_prefix():
    model = MODELS.build(dict(type='PeftModel',
                              model=image_recognizer('test_efficientnet'),
                              peft=dict(method='bitfit')))
    groups = model.layer_groups()
    inner = model.model.layer_groups()
    assert len(groups) == len(inner)
    assert groups[-1] == [f'model.{name}' for name in inner[-1]]
    names = {name for name, _ in model.named_parameters()}
    assert all(name in names for group in groups for name in group)
