"""Tests for load_pretrained: key changes, heads, inflation, errors, report."""
import logging

import pytest
import torch
from torch import nn

from vidft.finetune import (MAX_LOGGED_KEYS, inflate_weight, load_pretrained)


class TinyResNet(nn.Module):
    """A ResNet-shaped toy: stem, two stages, classifier."""

    def __init__(self, num_classes: int = 10, width: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = nn.Sequential(nn.Conv2d(width, width, 3, padding=1),
                                    nn.BatchNorm2d(width))
        self.layer2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, padding=1),
                                    nn.BatchNorm2d(2 * width))
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.conv1(x))
        x = self.layer2(self.layer1(x))
        return self.fc(x.mean((2, 3)))


class Recognizer(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.backbone = TinyResNet(num_classes)


def make_net(seed: int, **kwargs) -> TinyResNet:
    torch.manual_seed(seed)
    return TinyResNet(**kwargs)


@pytest.fixture
def logger() -> logging.Logger:
    log = logging.getLogger('tests.finetune.load_pretrained')
    log.setLevel(logging.DEBUG)
    return log


def assert_same_weights(model: nn.Module, state_dict: dict) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state_dict[key]), key


def test_strip_prefix_module(logger):
    source = make_net(0)
    wrapped = {f'module.{k}': v for k, v in source.state_dict().items()}
    model = make_net(1)

    report = load_pretrained(model, wrapped, logger=logger)

    assert_same_weights(model, source.state_dict())
    assert report.renamed['module.conv1.weight'] == 'conv1.weight'
    assert len(report.renamed) == len(wrapped)
    assert report.missing == []
    assert report.unexpected == []
    assert report.loaded_fraction == pytest.approx(1.0)


def test_strip_several_prefixes(logger):
    source = make_net(0)
    wrapped = {f'module.backbone.{k}': v
               for k, v in source.state_dict().items()}
    model = make_net(1)

    load_pretrained(model, wrapped, strip_prefix=('module.', 'backbone.'),
                    logger=logger)

    assert_same_weights(model, source.state_dict())


def test_add_prefix_backbone(logger):
    source = make_net(0)
    model = Recognizer()

    report = load_pretrained(model, source.state_dict(),
                             add_prefix='backbone.', logger=logger)

    assert_same_weights(model.backbone, source.state_dict())
    assert report.renamed['fc.bias'] == 'backbone.fc.bias'


def test_rename_rules_in_order(logger):
    source = make_net(0)
    renamed = {}
    for key, value in source.state_dict().items():
        key = key.replace('conv1', 'stem.conv').replace('bn1', 'stem.norm')
        renamed[key] = value
    model = make_net(1)
    # The second rule only matches after the first one ran.
    rules = [(r'^stem\.conv', 'stem_conv'), (r'^stem_conv', 'conv1'),
             (r'^stem\.norm', 'bn1')]

    report = load_pretrained(model, renamed, rename=rules, logger=logger)

    assert_same_weights(model, source.state_dict())
    assert report.renamed == {'stem.conv.weight': 'conv1.weight',
                              'stem.norm.weight': 'bn1.weight',
                              'stem.norm.bias': 'bn1.bias',
                              'stem.norm.running_mean': 'bn1.running_mean',
                              'stem.norm.running_var': 'bn1.running_var',
                              'stem.norm.num_batches_tracked':
                                  'bn1.num_batches_tracked'}


def test_rename_collision_raises(logger):
    state = make_net(0).state_dict()
    with pytest.raises(ValueError, match='several checkpoint keys'):
        load_pretrained(make_net(1), state, rename=[(r'^layer\d', 'layer')],
                        logger=logger)


def test_key_map_renames_recorded(logger):
    source = make_net(0)
    foreign = {k.replace('.', '/'): v for k, v in source.state_dict().items()}

    def key_map(state):
        return {k.replace('/', '.'): v for k, v in state.items()}

    model = make_net(1)
    report = load_pretrained(model, foreign, key_map=key_map, logger=logger)

    assert_same_weights(model, source.state_dict())
    assert report.renamed['layer1/0/weight'] == 'layer1.0.weight'


def test_drop_keys(logger):
    source = make_net(0)
    model = make_net(1)
    fc_before = model.fc.weight.detach().clone()

    report = load_pretrained(model, source.state_dict(), drop=[r'^fc\.'],
                             logger=logger)

    assert sorted(report.dropped) == ['fc.bias', 'fc.weight']
    assert sorted(report.missing) == ['fc.bias', 'fc.weight']
    assert torch.equal(model.fc.weight, fc_before)
    assert torch.equal(model.conv1.weight, source.conv1.weight)


def test_head_mismatch_reinitialized(logger):
    source = make_net(0, num_classes=10)
    model = make_net(1, num_classes=5)
    fc_before = model.fc.weight.detach().clone()

    report = load_pretrained(model, source.state_dict(), logger=logger)

    assert sorted(report.reinitialized) == ['fc.bias', 'fc.weight']
    assert report.missing == []
    assert torch.equal(model.fc.weight, fc_before)
    assert torch.equal(model.layer2[0].weight, source.layer2[0].weight)
    total = sum(p.numel() for p in model.parameters())
    head = model.fc.weight.numel() + model.fc.bias.numel()
    assert report.loaded_fraction == pytest.approx((total - head) / total)


class TwoHeads(TinyResNet):
    """The classifier is not the last layer: an auxiliary head follows."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__(num_classes)
        self.aux = nn.Linear(8, 3)


def test_head_keys_for_inner_classifier(logger):
    torch.manual_seed(0)
    source = TwoHeads(num_classes=10)
    torch.manual_seed(1)
    model = TwoHeads(num_classes=5)

    with pytest.raises(ValueError, match='fc.weight'):
        load_pretrained(model, source.state_dict(), logger=logger)
    report = load_pretrained(model, source.state_dict(),
                             head_keys=[r'^fc\.'], logger=logger)

    assert sorted(report.reinitialized) == ['fc.bias', 'fc.weight']
    assert torch.equal(model.aux.weight, source.aux.weight)


def test_last_layer_input_change_is_error(logger):
    source = make_net(0, num_classes=10, width=4)
    model = make_net(1, num_classes=10, width=4)
    state = source.state_dict()
    state['fc.weight'] = torch.zeros(10, 16)

    with pytest.raises(ValueError) as error:
        load_pretrained(model, state, logger=logger)

    assert 'fc.weight: checkpoint (10, 16), model (10, 8)' in str(error.value)


def test_other_mismatch_names_both_shapes(logger):
    state = make_net(0).state_dict()
    state['conv1.weight'] = torch.zeros(4, 3, 5, 5)

    with pytest.raises(ValueError) as error:
        load_pretrained(make_net(1), state, logger=logger)

    message = str(error.value)
    assert 'conv1.weight' in message
    assert '(4, 3, 5, 5)' in message
    assert '(4, 3, 3, 3)' in message


def test_zero_matches_shows_keys(logger):
    state = {f'encoder.{k}': v for k, v in make_net(0).state_dict().items()}
    model = Recognizer()

    with pytest.raises(ValueError) as error:
        load_pretrained(model, state, strip_prefix=(), logger=logger)

    message = str(error.value)
    assert 'no checkpoint tensor' in message
    assert 'backbone.conv1.weight' in message
    assert 'encoder.conv1.weight' in message


def test_zero_matches_suggests_prefix(logger):
    state = make_net(0).state_dict()

    with pytest.raises(ValueError, match="add_prefix='backbone.'"):
        load_pretrained(Recognizer(), state, logger=logger)


def test_zero_matches_names_lora_merge(logger):
    # What a LoRA run's checkpoint holds: the low-rank factors only.
    state = {'model.backbone.conv1.lora_A.default.weight': torch.zeros(2, 3),
             'model.backbone.conv1.lora_B.default.weight': torch.zeros(4, 2)}

    with pytest.raises(ValueError, match='vidft export --merge-lora'):
        load_pretrained(make_net(1), state, logger=logger)


def test_strict_rejects_unexpected(logger):
    state = make_net(0).state_dict()
    state['extra.weight'] = torch.zeros(1)

    with pytest.raises(ValueError, match='extra.weight'):
        load_pretrained(make_net(1), state, strict=True, logger=logger)
    report = load_pretrained(make_net(1), state, logger=logger)
    assert report.unexpected == ['extra.weight']


def test_strict_accepts_replaced_head(logger):
    state = make_net(0, num_classes=10).state_dict()
    report = load_pretrained(make_net(1, num_classes=3), state, strict=True,
                             logger=logger)
    assert len(report.reinitialized) == 2


class Stem3d(nn.Module):
    def __init__(self, time_size: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 4, (time_size, 3, 3), padding=(0, 1, 1))
        self.fc = nn.Linear(4, 2)


def test_inflate_numerics(logger):
    torch.manual_seed(0)
    conv2d = nn.Conv2d(3, 4, 3, padding=1)
    time_size = 3
    model = Stem3d(time_size)
    state = {'conv1.weight': conv2d.weight.detach(),
             'conv1.bias': conv2d.bias.detach()}

    report = load_pretrained(model, state, inflate=True, logger=logger)

    assert report.inflated == ['conv1.weight']
    assert report.loaded == ['conv1.bias']
    weight = model.conv1.weight.detach()
    assert weight.shape == (4, 3, time_size, 3, 3)
    for t in range(time_size):
        assert torch.allclose(weight[:, :, t], conv2d.weight / time_size)

    # A clip of identical frames gives the 2D response of one frame.
    frame = torch.randn(1, 3, 8, 8)
    clip = frame.unsqueeze(2).repeat(1, 1, time_size, 1, 1)
    with torch.no_grad():
        out3d = model.conv1(clip)[:, :, 0]
        out2d = conv2d(frame)
    assert torch.allclose(out3d, out2d, atol=1e-5)


def test_inflate_required_for_4d_to_5d(logger):
    state = {'conv1.weight': torch.zeros(4, 3, 3, 3)}
    with pytest.raises(ValueError, match='inflate=True'):
        load_pretrained(Stem3d(3), state, logger=logger)


def test_inflate_weight_rejects_bad_input():
    with pytest.raises(ValueError, match='4D'):
        inflate_weight(torch.zeros(2, 2, 2), 3)


def test_report_logs_levels_and_truncation(caplog, logger):
    source = make_net(0)
    state = source.state_dict()
    extra = MAX_LOGGED_KEYS + 3
    for index in range(extra):
        state[f'unknown.{index}'] = torch.zeros(1)
    state.pop('layer1.0.weight')

    with caplog.at_level(logging.DEBUG, logger=logger.name):
        report = load_pretrained(make_net(1), state, logger=logger)

    records = {r.levelno: [] for r in caplog.records}
    for record in caplog.records:
        records[record.levelno].append(record.getMessage())
    summary = [m for m in records[logging.INFO] if m.startswith('Loaded')]
    assert len(summary) == 1
    assert f'unexpected {extra}' in summary[0]
    assert 'missing 1' in summary[0]
    missing = [m for m in records[logging.INFO] if 'missing from' in m]
    assert len(missing) == 1
    assert 'layer1.0.weight' in missing[0]
    unexpected = [m for m in records[logging.WARNING] if 'unknown.0' in m]
    assert len(unexpected) == 1
    assert f'{extra} in total' in unexpected[0]
    assert f'unknown.{MAX_LOGGED_KEYS}' not in unexpected[0]
    assert report.summary() == summary[0]
