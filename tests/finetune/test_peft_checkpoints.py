"""Merging LoRA weights, LoRA checkpoints and `vidft export --merge-lora`."""
import io
import os.path as osp
from typing import Any, Dict

import pytest
import torch
from mmengine.registry import DefaultScope
from torch import nn

from vidft import plugins
from vidft.cli import main as cli_main
from vidft.finetune import (CheckpointMismatchError, PeftModel,
                            read_peft_reference)
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


def saved_backbone_weights(model_cfg: Dict[str, Any], path: str) -> str:
    """Save the randomly initialised backbone of ``model_cfg`` as a file."""
    torch.manual_seed(123)
    model = MODELS.build(model_cfg)
    torch.save(model.backbone.model.state_dict(), path)
    return path


def randomize_lora(model: nn.Module, seed: int = 0) -> None:
    """Give the LoRA B matrices non-zero values (peft starts them at 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'lora_' in name:
                param.copy_(0.05 * torch.randn(param.shape,
                                               generator=generator))


def clip_batch(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 3, 4, 16, 16, generator=generator)


def test_merge_matches_unmerged(tmp_path):
    weights = saved_backbone_weights(video_recognizer(),
                                     str(tmp_path / 'base.pth'))
    model = MODELS.build(dict(type='PeftModel',
                              model=video_recognizer(weights),
                              peft=dict(method='lora', target_types=['Conv3d'],
                                        r=4, lora_alpha=8)))
    randomize_lora(model)
    model.eval()
    clips = clip_batch()
    with torch.no_grad():
        unmerged = model(clips)
        merged_model = model.merge()
        merged = merged_model(clips)

    assert not any('lora_' in k or 'base_layer' in k
                   for k in merged_model.state_dict())
    assert (merged - unmerged).abs().max().item() < 1e-5
    # LoRA changed the output, so the comparison is not trivial.
    plain = MODELS.build(video_recognizer(weights))
    plain.init_weights()
    plain.eval()
    with torch.no_grad():
        assert (plain(clips) - unmerged).abs().max().item() > 1e-3


def test_lora_path_gets_the_temporal_shift():
    # TSM shifts the input of the first convolution of each residual branch
    # with a forward pre-hook, and LoRA wraps those convolutions. The LoRA
    # path must see the shifted input too, or the adapters learn no motion
    # and the merged model (where the hook is back on the plain layer)
    # computes something else.
    # timm zero-initialises the last BatchNorm of each residual branch,
    # which would hide the branch and so the shift.
    recognizer = image_recognizer('test_resnet', zero_init_last=False)
    recognizer['temporal_shift'] = dict(num_segments=2, shift_div=4)
    torch.manual_seed(0)
    model = MODELS.build(dict(type='PeftModel', model=recognizer,
                              peft=dict(method='lora', target_types=['Conv2d'], r=2)))
    randomize_lora(model)
    model.eval()
    clips = frame_batch()
    with torch.no_grad():
        unmerged = model(clips)
        merged = model.merge()(clips)
    torch.testing.assert_close(merged, unmerged, atol=1e-5, rtol=0)


def test_moved_hooks_keep_layer_and_output():
    recognizer = image_recognizer('test_resnet', zero_init_last=False)
    torch.manual_seed(0)
    inner = MODELS.build(recognizer)
    conv = inner.backbone.model.layer1[0].conv2
    modules, inputs, outputs = [], [], []
    conv.register_forward_pre_hook(
        lambda module, args: modules.append(module) or inputs.append(args[0]))
    conv.register_forward_hook(lambda module, args, output: outputs.append(output))
    model = MODELS.build(dict(type='PeftModel', model=inner,
                              peft=dict(method='lora', target_types=['Conv2d'], r=2)))
    randomize_lora(model)
    model.eval()
    with torch.no_grad():
        model(frame_batch())
    assert modules == [conv]
    # The output hook gets the adapted layer's output: base plus the LoRA term.
    wrapper = model.model.backbone.model.layer1[0].conv2
    lora_term = wrapper.lora_B['default'](wrapper.lora_A['default'](inputs[0]))
    expected = conv(inputs[0]) + wrapper.scaling['default'] * lora_term
    torch.testing.assert_close(outputs[0], expected.detach())

    merged = model.merge()
    assert len(conv._forward_pre_hooks) == 1
    assert len(conv._forward_hooks) == 1
    with torch.no_grad():
        merged(frame_batch())
    assert modules[-1] is conv
    torch.testing.assert_close(outputs[-1], outputs[0], atol=1e-5, rtol=0)


def lora_model(weights: str, norm_eval='frozen') -> PeftModel:
    """A LoRA model on timm's test EfficientNet (Conv2d and BatchNorm)."""
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='PeftModel', model=image_recognizer('test_efficientnet', weights),
        peft=dict(method='lora', target_types=['Conv2d'], r=2),
        norm_eval=norm_eval))


def frame_batch(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 2, 3, 32, 32, generator=generator)


def test_checkpoint_holds_trained_tensors_only(tmp_path):
    weights = saved_backbone_weights(image_recognizer('test_efficientnet'),
                                     str(tmp_path / 'base.pth'))
    model = lora_model(weights)
    state = model.state_dict()

    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable <= set(state)
    # Frozen weights and the statistics of frozen BatchNorm layers stay out.
    extra = set(state) - trainable
    assert not any(k.startswith('model.backbone.') for k in extra)
    assert not any('base_layer' in k for k in state)
    assert not any('running_mean' in k for k in state)

    reference = read_peft_reference(state)
    assert reference is not None
    assert reference['method'] == 'lora'
    assert len(reference['base_sha256']) == 64
    assert reference['base_sources'] == {'backbone': weights}

    # The reference survives torch.save and a weights_only load.
    buffer = io.BytesIO()
    torch.save(dict(state_dict=state), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert read_peft_reference(loaded) == reference



def test_lora_default_updates_batchnorm_statistics(tmp_path):
    # LoRA changes the layers in front of each BatchNorm, so by default the
    # statistics follow the batches in training and are saved.
    weights = saved_backbone_weights(image_recognizer('test_efficientnet'),
                                     str(tmp_path / 'base.pth'))
    model = lora_model(weights, norm_eval=None)
    assert model.norm_eval is False
    model.train()
    norms = [m for m in model.model.backbone.modules()
             if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    assert all(m.training for m in norms)
    assert any('running_mean' in k for k in model.state_dict())

    probe = MODELS.build(dict(
        type='PeftModel', model=image_recognizer('test_efficientnet', weights),
        peft=dict(method='linear_probe')))
    assert probe.norm_eval == 'frozen'


def test_checkpoint_round_trip_and_base_check(tmp_path):
    weights = saved_backbone_weights(image_recognizer('test_efficientnet'),
                                     str(tmp_path / 'base.pth'))
    trained = lora_model(weights)
    randomize_lora(trained, seed=1)
    state = trained.state_dict()

    fresh = lora_model(weights)
    result = fresh.load_state_dict(state, strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys == []
    trained.eval()
    fresh.eval()
    with torch.no_grad():
        assert torch.equal(trained(frame_batch()), fresh(frame_batch()))

    # Other base weights: the reference no longer fits.
    torch.manual_seed(7)
    other = MODELS.build(image_recognizer('test_efficientnet'))
    other_path = str(tmp_path / 'other.pth')
    torch.save(other.backbone.model.state_dict(), other_path)
    mismatched = lora_model(other_path)
    with pytest.raises(CheckpointMismatchError, match='base weights'):
        mismatched.load_state_dict(state, strict=False)


def write_config(path: str, model: Dict[str, Any]) -> str:
    with open(path, 'w') as file:
        file.write(f"default_scope = 'vidft'\nmodel = {model!r}\n")
    return path


def test_export_merge_lora_cli(tmp_path):
    weights = saved_backbone_weights(video_recognizer(),
                                     str(tmp_path / 'base.pth'))
    peft_cfg = dict(method='lora', target_types=['Conv3d'], r=2)
    config = write_config(str(tmp_path / 'lora_cfg.py'), dict(
        type='PeftModel', model=video_recognizer(weights), peft=peft_cfg))
    torch.manual_seed(0)
    trained = MODELS.build(dict(type='PeftModel',
                                model=video_recognizer(weights),
                                peft=peft_cfg))
    randomize_lora(trained, seed=2)
    checkpoint = str(tmp_path / 'iter_10.pth')
    torch.save(dict(meta=dict(iter=10), state_dict=trained.state_dict()),
               checkpoint)

    out = str(tmp_path / 'merged.pth')
    plain_config = str(tmp_path / 'plain_cfg.py')
    status = cli_main(['export', '--merge-lora', config, checkpoint, out,
                       '--save-config', plain_config])
    assert status == 0
    assert osp.isfile(plain_config)

    exported = torch.load(out, weights_only=True)
    assert exported['meta']['iter'] == 10
    assert exported['meta']['base']['base_sources'] == {'backbone': weights}
    plain = MODELS.build(video_recognizer(weights))
    plain.load_state_dict(exported['state_dict'], strict=True)
    plain.eval()
    trained.eval()
    with torch.no_grad():
        difference = (plain(clip_batch()) - trained(clip_batch())).abs()
    assert difference.max().item() < 1e-5


def test_export_rejects_plain_config(tmp_path, capsys):
    config = write_config(str(tmp_path / 'plain.py'), video_recognizer())
    checkpoint = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict={}), checkpoint)
    status = cli_main(['export', '--merge-lora', config, checkpoint,
                       str(tmp_path / 'out.pth')])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith(f'vidft export: error: invalid config {config}: '
                          "model.type: expected a config whose model type is "
                          "'PeftModel'")
    assert 'Traceback' not in err
    assert len(err.splitlines()) == 1
    assert not osp.exists(tmp_path / 'out.pth')


def test_export_rejects_plain_checkpoint(tmp_path, capsys):
    config = write_config(str(tmp_path / 'lora.py'), dict(
        type='PeftModel', model=image_recognizer('test_efficientnet'),
        peft=dict(method='lora', target_types=['Conv2d'], r=2)))
    checkpoint = str(tmp_path / 'plain.pth')
    plain = MODELS.build(image_recognizer('test_efficientnet'))
    torch.save(dict(state_dict=plain.state_dict()), checkpoint)
    status = cli_main(['export', '--merge-lora', config, checkpoint,
                       str(tmp_path / 'out.pth')])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith(f'vidft export: error: {checkpoint} has no LoRA '
                          'base reference')
    assert 'Traceback' not in err
    assert len(err.splitlines()) == 1
    assert not osp.exists(tmp_path / 'out.pth')
