"""Tests of the core classification head."""
import pytest
import torch
import torch.nn.functional as F

from vidft.models.heads import ClsHead
from vidft.registry import HEADS
from vidft.structures import VideoDataSample


def make_samples(labels):
    samples = []
    for label in labels:
        sample = VideoDataSample()
        sample.gt_label = torch.tensor(label)
        samples.append(sample)
    return samples


def test_head_registered():
    head = HEADS.build(dict(type='ClsHead', num_classes=3, in_channels=8))
    assert isinstance(head, ClsHead)


def test_forward_pools_any_layout():
    torch.manual_seed(0)
    head = ClsHead(num_classes=4, in_channels=6, dropout_ratio=0).eval()
    pooled = torch.randn(2, 6)
    expected = head.fc(pooled)
    image_map = pooled[:, :, None, None].expand(2, 6, 3, 5)
    clip_map = pooled[:, :, None, None, None].expand(2, 6, 2, 3, 3)
    for features in (pooled, image_map, clip_map):
        assert torch.allclose(head(features), expected, atol=1e-6)


def test_init_std_and_zero_bias():
    torch.manual_seed(0)
    head = ClsHead(num_classes=200, in_channels=400, init_std=0.05)
    assert head.fc.weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.count_nonzero(head.fc.bias) == 0


def test_loss_matches_cross_entropy():
    torch.manual_seed(0)
    head = ClsHead(num_classes=5, in_channels=8, dropout_ratio=0,
                   label_smoothing=0.1, loss_weight=2.0)
    features = torch.randn(4, 8)
    labels = [0, 3, 3, 1]
    losses = head.loss(features, make_samples(labels))

    logits = head(features)
    expected = 2.0 * F.cross_entropy(logits, torch.tensor(labels),
                                     label_smoothing=0.1)
    assert torch.allclose(losses['loss'], expected)
    expected_acc = (logits.argmax(1) == torch.tensor(labels)).float().mean()
    assert losses['acc'].item() == pytest.approx(expected_acc.item())
    assert losses['loss'].requires_grad
    assert not losses['acc'].requires_grad


def test_loss_rejects_missing_label():
    head = ClsHead(num_classes=2, in_channels=3)
    with pytest.raises(ValueError, match='gt_label'):
        head.loss(torch.randn(1, 3), [VideoDataSample()])


def test_predict_averages_views():
    torch.manual_seed(0)
    features = torch.randn(6, 8)  # 2 samples x 3 views
    for average in ('prob', 'score'):
        head = ClsHead(num_classes=5, in_channels=8, dropout_ratio=0.5,
                       average_views=average).eval()
        samples = head.predict(features, make_samples([1, 2]), num_views=3)

        logits = head(features).view(2, 3, 5)
        expected = (logits.softmax(2).mean(1) if average == 'prob'
                    else logits.mean(1).softmax(1))
        for sample, probs in zip(samples, expected):
            assert torch.allclose(sample.pred_score, probs, atol=1e-6)
            assert sample.pred_label.item() == probs.argmax().item()
            assert sample.pred_score.sum().item() == pytest.approx(1.0)


def test_predict_without_samples_makes_them():
    head = ClsHead(num_classes=3, in_channels=4).eval()
    samples = head.predict(torch.randn(2, 4))
    assert len(samples) == 2
    assert samples[0].pred_score.shape == (3,)


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_classes=0, in_channels=4), 'num_classes'),
    (dict(num_classes=3, in_channels=4, dropout_ratio=1.0), 'dropout_ratio'),
    (dict(num_classes=3, in_channels=4, label_smoothing=-0.1),
     'label_smoothing'),
    (dict(num_classes=3, in_channels=4, average_views='max'),
     'average_views'),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ClsHead(**kwargs)


def test_wrong_channels_names_fix():
    head = ClsHead(num_classes=3, in_channels=4)
    with pytest.raises(ValueError, match='in_channels'):
        head(torch.randn(2, 5, 3, 3))
