"""Tests of Recognizer2D (TSN, TSM) and Recognizer3D."""
import pytest
import torch
from mmengine.optim import OptimWrapper

from vidft.registry import MODELS, OPTIM_WRAPPER_CONSTRUCTORS
from vidft.structures import VideoDataSample
from vidft_recognition.models import Recognizer2D, Recognizer3D

NUM_CLASSES = 3


def make_samples(labels):
    samples = []
    for label in labels:
        sample = VideoDataSample()
        sample.gt_label = torch.tensor(label)
        samples.append(sample)
    return samples


def tsn_config(**extra):
    return dict(type='recognition.Recognizer2D',
                backbone=dict(type='TorchvisionBackbone', name='resnet18'),
                cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES,
                              dropout_ratio=0.0),
                **extra)


def learnable_batch(generator, batch_size=6, segments=4, size=16):
    """Clips whose class sets which colour channel is brighter."""
    labels = torch.arange(batch_size) % NUM_CLASSES
    inputs = torch.randn(batch_size, segments, 3, size, size,
                         generator=generator) * 0.5
    for index, label in enumerate(labels.tolist()):
        inputs[index, :, label] += 1.0
    return inputs, labels.tolist()


def test_build_from_config_takes_head_channels_from_backbone():
    model = MODELS.build(tsn_config())
    assert isinstance(model, Recognizer2D)
    assert model.cls_head.in_channels == 512


def test_tsm_loss_decreases_over_training_steps():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = MODELS.build(tsn_config(temporal_shift=dict(num_segments=4)))
    optim_wrapper = OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    inputs, labels = learnable_batch(generator)
    data = dict(inputs=inputs, data_samples=make_samples(labels))

    model.train()
    losses = []
    for _ in range(6):
        log_vars = model.train_step(data, optim_wrapper)
        losses.append(log_vars['loss'].item())
        assert 0.0 <= log_vars['acc'].item() <= 1.0
    assert losses[-1] < 0.5 * losses[0], losses


def test_loss_mode_returns_loss_and_accuracy():
    model = MODELS.build(tsn_config())
    inputs = torch.randn(2, 3, 3, 32, 32)
    losses = model(inputs, make_samples([0, 2]), mode='loss')
    assert set(losses) == {'loss', 'acc'}
    assert losses['loss'].requires_grad
    assert losses['loss'].item() > 0


def test_segment_consensus_is_an_average():
    torch.manual_seed(0)
    model = MODELS.build(tsn_config()).eval()
    inputs = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        features, num_views = model.extract_feat(inputs)
        per_segment = model.backbone(inputs[0]).mean(dim=(2, 3))
    assert num_views == 1
    assert torch.allclose(features[0], per_segment.mean(0), atol=1e-5)


def test_predict_averages_views():
    torch.manual_seed(0)
    model = MODELS.build(tsn_config()).eval()
    views = torch.randn(2, 3, 4, 3, 32, 32)  # 2 samples, 3 views, 4 segments
    with torch.no_grad():
        results = model(views, make_samples([0, 1]), mode='predict')
        logits = model(views, mode='tensor')
        per_view = torch.stack([
            model(views[:, v], mode='tensor') for v in range(3)], dim=1)
    expected = per_view.softmax(dim=2).mean(dim=1)
    for sample, probs in zip(results, expected):
        assert torch.allclose(sample.pred_score, probs, atol=1e-5)
        assert sample.pred_label.item() == probs.argmax().item()
    assert torch.allclose(logits, per_view.mean(dim=1), atol=1e-5)


def test_tsm_splits_flat_frames_into_views():
    torch.manual_seed(0)
    model = MODELS.build(tsn_config(temporal_shift=dict(num_segments=2)))
    model.eval()
    views = torch.randn(1, 3, 2, 3, 16, 16)  # 3 views of 2 segments
    with torch.no_grad():
        flat = model(views.flatten(1, 2), mode='tensor')
        split = model(views, mode='tensor')
    assert torch.allclose(flat, split, atol=1e-6)


def test_tsm_checks_segment_count():
    model = MODELS.build(tsn_config(temporal_shift=dict(num_segments=4)))
    with pytest.raises(ValueError, match='multiple of 4 segments'):
        model(torch.randn(1, 3, 3, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match='expected 4 segments'):
        model(torch.randn(1, 2, 3, 3, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match='num_segments'):
        MODELS.build(tsn_config(temporal_shift=dict(shift_div=8)))


def test_loss_rejects_multi_view_inputs():
    model = MODELS.build(tsn_config())
    with pytest.raises(ValueError, match='one view per sample'):
        model(torch.randn(1, 2, 2, 3, 32, 32), make_samples([0]),
              mode='loss')


def test_layer_groups_cover_backbone_only():
    model = MODELS.build(tsn_config())
    groups = model.layer_groups()
    assert len(groups) == 5
    assert groups[0][0] == 'backbone.model.conv1.weight'
    names = [n for group in groups for n in group]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters()
                                   if n.startswith('backbone.'))


def test_layer_decay_leaves_head_at_base_lr():
    model = MODELS.build(tsn_config())
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type='VidftOptimWrapperConstructor',
        optim_wrapper_cfg=dict(
            type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
        paramwise_cfg=dict(layer_decay_rate=0.5)))
    optimizer = constructor(model).optimizer
    lr_of = {id(p): group['lr'] for group in optimizer.param_groups
             for p in group['params']}
    assert lr_of[id(model.cls_head.fc.weight)] == pytest.approx(0.1)
    assert lr_of[id(model.backbone.model.layer4[0].conv1.weight)] == \
        pytest.approx(0.05)
    assert lr_of[id(model.backbone.model.conv1.weight)] == \
        pytest.approx(0.1 * 0.5 ** 5)


def test_timm_backbone_in_recognizer():
    model = MODELS.build(dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name='mobilenetv3_small_100',
                      global_pool=True),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES)))
    assert model.cls_head.in_channels == 1024
    with torch.no_grad():
        out = model.eval()(torch.randn(2, 2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, NUM_CLASSES)


def test_backbone_with_several_outputs_is_rejected():
    model = MODELS.build(dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TorchvisionBackbone', name='resnet18',
                      out_indices=(1, 2)),
        cls_head=dict(type='ClsHead', num_classes=2, in_channels=512)))
    with pytest.raises(TypeError, match='out_indices'):
        model(torch.randn(1, 2, 3, 32, 32), mode='tensor')


def test_recognizer3d_loss_and_multi_view_predict():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.ResNet3d', depth=18),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES)))
    assert isinstance(model, Recognizer3D)

    clips = torch.randn(2, 3, 4, 32, 32)
    losses = model(clips, make_samples([0, 1]), mode='loss')
    losses['loss'].backward()
    assert model.backbone.conv1.weight.grad is not None

    model.eval()
    views = torch.randn(1, 2, 3, 4, 32, 32)
    with torch.no_grad():
        results = model(views, make_samples([2]), mode='predict')
        per_view = torch.stack([model(views[:, v], mode='tensor')
                                for v in range(2)], dim=1)
    expected = per_view.softmax(dim=2).mean(dim=1)[0]
    assert torch.allclose(results[0].pred_score, expected, atol=1e-5)


def test_recognizer3d_with_torchvision_video_backbone():
    model = MODELS.build(dict(
        type='recognition.Recognizer3D',
        backbone=dict(type='recognition.TorchvisionVideoBackbone',
                      name='r2plus1d_18'),
        cls_head=dict(type='ClsHead', num_classes=NUM_CLASSES)))
    assert model.cls_head.in_channels == 512
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 4, 32, 32), mode='tensor')
    assert out.shape == (1, NUM_CLASSES)


def test_invalid_inputs_and_mode():
    model = MODELS.build(tsn_config())
    with pytest.raises(ValueError, match=r'\(N, T, C, H, W\)'):
        model(torch.randn(2, 3, 32, 32), mode='tensor')
    with pytest.raises(ValueError, match='mode'):
        model(torch.randn(1, 2, 3, 32, 32), mode='features')
