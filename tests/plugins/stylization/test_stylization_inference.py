import numpy as np
import pytest
import torch
from mmengine.config import Config

import vidft_stylization  # noqa: F401
from stylization_helpers import lite0_loss_config
from vidft.data.video import VideoReader, open_video
from vidft.registry import INFERENCERS, MODELS
from vidft_stylization import StylizationInferencer


def _config() -> Config:
    return Config(dict(
        model=dict(
            type='stylization.VideoStylizer',
            transformer=dict(type='stylization.TransformerNet',
                             base_channels=4, num_res_blocks=1),
            perceptual_loss=lite0_loss_config()),
        inferencer=dict(type='stylization.StylizationInferencer',
                        batch_size=3)))


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    model = MODELS.build(dict(_config().model, perceptual_loss=None))
    path = str(tmp_path / 'stylizer.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    return path, model


def test_registered_under_scope():
    assert INFERENCERS.get('stylization.StylizationInferencer') is \
        StylizationInferencer


def test_writes_video_at_input_rate_and_size(tmp_path, make_video,
                                             checkpoint):
    path, model = checkpoint
    # An odd height is written as 4:4:4, and crf 0 is lossless in YUV, so
    # only the RGB-YUV rounding separates the output from the model's.
    video = make_video(num_frames=7, height=21, width=30)
    inferencer = StylizationInferencer(_config(), path, 'cpu',
                                       batch_size=3, progress=False, crf=0)
    assert inferencer.load_report.loaded_fraction == pytest.approx(1.0)
    out = inferencer(video, out=str(tmp_path / 'styled.mp4'))
    with open_video(video) as source, open_video(out) as result:
        assert len(result) == len(source) == 7
        assert (result.height, result.width) == (21, 30)
        assert result.fps == pytest.approx(source.fps)
        frames = source.get(list(range(7)))
        written = result.get(list(range(7)))
    with torch.no_grad():
        tensor = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        expected = (model.stylize(tensor) * 255).round().permute(0, 2, 3, 1)
    difference = np.abs(written.astype(np.float32) - expected.numpy())
    assert difference.mean() < 2.0
    assert inferencer.format_result(out).startswith(
        f'wrote {out}: 7 frames, 30x21, ')


def test_reads_at_most_batch_size_frames(checkpoint):
    path, _ = checkpoint

    class Reader(VideoReader):
        fps, height, width = 25.0, 8, 8

        def __init__(self) -> None:
            super().__init__('eight_frames.mp4')
            self.requests = []

        def __len__(self) -> int:
            return 8

        def _decode(self, indices):
            self.requests.append(list(indices))
            return {index: np.zeros((8, 8, 3), np.uint8) for index in indices}

    reader = Reader()
    inferencer = StylizationInferencer(_config(), path, batch_size=3)
    frames = list(inferencer.iter_stylized(reader, 8, 3))
    assert len(frames) == 8
    assert reader.requests == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_style_image_rejected_for_per_style_network(make_video, checkpoint):
    path, _ = checkpoint
    inferencer = StylizationInferencer(_config(), path)
    with pytest.raises(ValueError, match='trained for one style'):
        inferencer(make_video(), style='painting.jpg')


def test_unknown_option_and_conflicting_outputs(make_video, checkpoint):
    path, _ = checkpoint
    with pytest.raises(TypeError, match='unknown inferencer options'):
        StylizationInferencer(_config(), path, chunk=3)
    inferencer = StylizationInferencer(_config(), path)
    with pytest.raises(ValueError, match='at most one of out_path and out'):
        inferencer(make_video(), 'a.mp4', out='b.mp4')


def test_cli_style_reported_for_per_style_network(make_video, checkpoint,
                                                  tmp_path, capsys):
    from vidft.cli import main

    path, _ = checkpoint
    config = str(tmp_path / 'stylizer_config.py')
    _config().dump(config)
    style = tmp_path / 'painting.png'
    style.write_bytes(b'not read: the network takes no style image')

    status = main(['infer', config, path, make_video(), '--style', str(style),
                   '--out', str(tmp_path / 'out.mp4')])

    assert status == 1
    assert 'trained for one style' in capsys.readouterr().err
    assert not (tmp_path / 'out.mp4').exists()


def test_cli_style_needs_stylization_inferencer(tmp_path, capsys):
    import os.path as osp

    from vidft.cli import main

    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'vsr', 'bicubic_x4_skvideo_demo.py')
    video = tmp_path / 'in.mp4'
    video.write_bytes(b'')
    # No checkpoint exists: the option is refused before anything loads.
    status = main(['infer', config, str(tmp_path / 'none.pth'), str(video),
                   '--style', 'painting.png'])
    assert status == 1
    assert '--style needs an inferencer' in capsys.readouterr().err
