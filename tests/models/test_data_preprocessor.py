"""VideoDataPreprocessor: batching, normalisation, layouts and device."""
import pytest
import torch

from vidft.models.data_preprocessor import VideoDataPreprocessor
from vidft.registry import MODELS
from vidft.structures import VideoDataSample

MEAN = [123.675, 116.28, 103.53]
STD = [58.395, 57.12, 57.375]


def uint8_inputs(shape, count=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, shape, dtype=torch.uint8,
                          generator=generator) for _ in range(count)]


def test_ncthw_normalises_per_channel():
    preprocessor = VideoDataPreprocessor(mean=MEAN, std=STD,
                                         format_shape='NCTHW')
    inputs = uint8_inputs((3, 3, 4, 8, 8))  # 3 views of (C, T, H, W)
    samples = [VideoDataSample().set_gt_label(i) for i in range(2)]
    output = preprocessor(dict(inputs=inputs, data_samples=samples))

    batch = output['inputs']
    assert batch.dtype == torch.float32
    assert tuple(batch.shape) == (2, 3, 3, 4, 8, 8)
    for channel in range(3):
        expected = (inputs[1][:, channel].float() - MEAN[channel]) / STD[
            channel]
        assert torch.allclose(batch[1, :, channel], expected)
    assert output['data_samples'] is not None
    assert [s.gt_label.item() for s in output['data_samples']] == [0, 1]


@pytest.mark.parametrize('format_shape, shape, channel_axis', [
    ('NCHW', (8, 3, 6, 6), 1),
    ('NTCHW', (2, 4, 3, 6, 6), 2),
    ('NCTHW', (3, 4, 6, 6), 0),  # FormatShape(collapse=True)
])
def test_channel_axis_per_format(format_shape, shape, channel_axis):
    preprocessor = VideoDataPreprocessor(mean=[10, 20, 30], std=[1, 2, 4],
                                         format_shape=format_shape)
    inputs = uint8_inputs(shape)
    batch = preprocessor(dict(inputs=inputs))['inputs']
    assert tuple(batch.shape) == (2, ) + shape
    for channel, (mean, std) in enumerate(zip([10, 20, 30], [1, 2, 4])):
        expected = (inputs[0].select(channel_axis, channel).float()
                    - mean) / std
        assert torch.allclose(batch[0].select(channel_axis, channel),
                              expected)


def test_without_normalisation_only_converts():
    preprocessor = VideoDataPreprocessor(format_shape='NCHW')
    inputs = uint8_inputs((4, 3, 5, 5))
    batch = preprocessor(dict(inputs=inputs))['inputs']
    assert torch.equal(batch, torch.stack(inputs).float())


def test_stacked_tensor_accepted():
    preprocessor = VideoDataPreprocessor(format_shape='NCHW')
    inputs = torch.stack(uint8_inputs((4, 3, 5, 5)))
    assert preprocessor(dict(inputs=inputs))['inputs'].shape == inputs.shape


def test_moves_to_model_device():
    preprocessor = VideoDataPreprocessor(mean=MEAN, std=STD,
                                         format_shape='NCHW')
    preprocessor.to('meta')
    assert preprocessor.device == torch.device('meta')
    batch = preprocessor(dict(inputs=uint8_inputs((4, 3, 5, 5))))['inputs']
    assert batch.device == torch.device('meta')
    assert batch.dtype == torch.float32


def test_wrong_layout_names_format_shape():
    preprocessor = VideoDataPreprocessor(format_shape='NCTHW')
    with pytest.raises(ValueError, match='input_format of FormatShape'):
        preprocessor(dict(inputs=uint8_inputs((3, 5, 5))))


def test_mismatched_shapes_raise():
    preprocessor = VideoDataPreprocessor(format_shape='NCHW')
    inputs = [torch.zeros(4, 3, 5, 5), torch.zeros(4, 3, 6, 6)]
    with pytest.raises(ValueError, match='fixed size'):
        preprocessor(dict(inputs=inputs))


def test_channel_count_must_match_mean():
    preprocessor = VideoDataPreprocessor(mean=MEAN, std=STD,
                                         format_shape='NCHW')
    with pytest.raises(ValueError, match='3 channels'):
        preprocessor(dict(inputs=uint8_inputs((4, 2, 5, 5))))


@pytest.mark.parametrize('kwargs, message', [
    (dict(format_shape='NHWC'), 'format_shape'),
    (dict(mean=MEAN), 'both mean and std'),
    (dict(mean=MEAN, std=[1, 1]), 'same length'),
    (dict(mean=MEAN, std=[1, 0, 1]), 'positive std'),
])
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VideoDataPreprocessor(**kwargs)


def test_built_from_registry():
    preprocessor = MODELS.build(dict(type='VideoDataPreprocessor',
                                     mean=MEAN, std=STD,
                                     format_shape='NCHW'))
    assert isinstance(preprocessor, VideoDataPreprocessor)
    assert 'mean' not in preprocessor.state_dict()
