import os.path as osp
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from mmengine.config import Config

from vidft.registry import INFERENCERS
from vidft_vsr.degradations import imresize
from vidft_vsr.inference import VSRInferencer


def _inferencer(model: dict, **options) -> VSRInferencer:
    torch.manual_seed(0)
    cfg = Config(dict(model=model,
                      inferencer=dict(type='vsr.VSRInferencer', **options)))
    return VSRInferencer(cfg)


def _small_basicvsr(**kwargs) -> dict:
    return dict(type='vsr.BasicVSR', scale=4, mid_channels=8, num_blocks=1,
                **kwargs)


def _frames(count: int, height: int, width: int, seed: int = 0):
    # A texture that moves one pixel per frame, so flows are non-trivial.
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width + count, 3), dtype=np.uint8)
    return np.stack([base[:, i:i + width] for i in range(count)])


def test_registered_under_vsr_scope():
    assert INFERENCERS.get('vsr.VSRInferencer') is VSRInferencer


@pytest.mark.parametrize('size_divisor', [1, 8])
def test_odd_size_is_padded_and_cropped_exactly(size_divisor):
    inferencer = _inferencer(_small_basicvsr(), size_divisor=size_divisor)
    frames = _frames(3, 13, 21)
    output = inferencer.upscale_frames(frames)
    assert output.shape == (3, 13 * 4, 21 * 4, 3)
    assert output.dtype == np.uint8

    # The crop keeps the top-left region: away from the padded bottom and
    # right edges the result matches the unpadded model call.
    lrs = torch.from_numpy(frames).permute(0, 3, 1, 2)[None].float() / 255
    with torch.no_grad():
        direct = inferencer.model(lrs, mode='tensor')[0].clamp(0, 1)
    direct = (direct * 255).round().permute(0, 2, 3, 1).numpy()
    interior = np.abs(output[:, :32, :48].astype(float) - direct[:, :32, :48])
    assert interior.max() <= 1


def test_bicubic_854x480_gives_3416x1920():
    inferencer = _inferencer(dict(type='vsr.BicubicVSR', scale=4),
                             size_divisor=16)
    frames = _frames(1, 480, 854)
    output = inferencer.upscale_frames(frames)
    assert output.shape == (1, 1920, 3416, 3)
    expected = imresize(frames[0], (1920, 3416))
    # Replicate padding changes only the last few output columns.
    assert np.abs(output[0, :, :3380].astype(int) - expected[:, :3380]).max() <= 1


def test_chunks_with_full_overlap_equal_whole_sequence():
    inferencer = _inferencer(_small_basicvsr())
    frames = _frames(7, 10, 12)
    whole = inferencer.upscale_frames(frames, chunk_size=7, overlap=0)
    chunked = inferencer.upscale_frames(frames, chunk_size=3, overlap=7)
    assert np.array_equal(chunked, whole)


def test_chunk_overlap_restores_context():
    # Weaken the recurrent path (state weights x0.3) so a frame's influence
    # decays with distance, as in a trained model, and strengthen the output
    # so that the influence is visible at 8-bit precision.
    inferencer = _inferencer(_small_basicvsr())
    model = inferencer.model
    with torch.no_grad():
        for branch in (model.backward_branch, model.forward_branch):
            branch.input_conv.weight[:, 3:].mul_(0.3)
        model.conv_last.weight.mul_(20)
    frames = _frames(16, 12, 14)
    whole = inferencer.upscale_frames(frames, chunk_size=16, overlap=0)

    def error(overlap: int) -> int:
        chunked = inferencer.upscale_frames(frames, chunk_size=8,
                                            overlap=overlap)
        return np.abs(chunked.astype(int) - whole).max()

    # Without overlap the frames next to the chunk border lose their
    # context. With 6 frames of overlap every frame is within one 8-bit
    # level (the tolerance) of the whole-sequence result.
    assert error(0) >= 3
    assert error(6) <= 1


def test_compare_puts_bicubic_left():
    inferencer = _inferencer(_small_basicvsr())
    frames = _frames(2, 8, 10)
    output = inferencer.upscale_frames(frames, compare=True)
    assert output.shape == (2, 32, 80, 3)
    bicubic = imresize(frames[1], (32, 40))
    assert np.abs(output[1, :, :40].astype(int) - bicubic).max() <= 1
    assert np.array_equal(output[:, :, 40:], inferencer.upscale_frames(frames))


def test_unknown_option_raises():
    with pytest.raises(ValueError, match='chunk_sise'):
        _inferencer(_small_basicvsr(), chunk_sise=4)


def _write_video(path: str, frames: np.ndarray, rate: Fraction) -> None:
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264', rate=rate)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = 'yuv420p'
        for frame in frames:
            for packet in stream.encode(
                    av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_file_to_file(tmp_path):
    source = str(tmp_path / 'clip.mp4')
    frames = _frames(9, 24, 30)
    _write_video(source, frames, Fraction(30000, 1001))

    inferencer = _inferencer(_small_basicvsr(), chunk_size=4, overlap=2)
    result = inferencer(source, progress=False)
    written = result.out_path
    assert written == osp.join(str(tmp_path), 'clip_x4.mp4')
    assert (result.num_frames, result.width, result.height) == (9, 120, 96)
    assert 'clip_x4.mp4' in inferencer.format_result(result)
    # vidft infer passes the output path as out=.
    compare = inferencer(source, out=str(tmp_path / 'side.mp4'),
                         compare=True, progress=False).out_path

    with av.open(written) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format='rgb24')
                   for f in container.decode(stream)]
        assert stream.average_rate == Fraction(30000, 1001)
    assert len(decoded) == 9
    assert decoded[0].shape == (96, 120, 3)
    with av.open(compare) as container:
        first = next(container.decode(video=0)).to_ndarray(format='rgb24')
    assert first.shape == (96, 240, 3)


def test_default_output_never_replaces_file(tmp_path, capsys):
    from vidft.cli import EXIT_USER_ERROR, main

    source = str(tmp_path / 'clip.mp4')
    _write_video(source, _frames(3, 24, 32), Fraction(25, 1))
    mine = tmp_path / 'clip_x4.mp4'
    mine.write_bytes(b'a video of the user')
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'vsr', 'bicubic_x4_skvideo_demo.py')

    assert main(['infer', config, 'none', source]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert f'pass --out {mine} (out_path in Python) to replace it' in err
    assert mine.read_bytes() == b'a video of the user'
    assert main(['infer', config, 'none', source, '--out', str(mine)]) == 0
    assert mine.stat().st_size > 100


def test_cli_compare_flag(tmp_path):
    from vidft.cli import EXIT_USER_ERROR, main
    from vidft.registry import MODELS

    source = str(tmp_path / 'clip.mp4')
    _write_video(source, _frames(3, 24, 32), Fraction(25, 1))
    checkpoint = str(tmp_path / 'small.pth')
    torch.save(MODELS.build(_small_basicvsr()).state_dict(), checkpoint)
    configs = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs')
    out = str(tmp_path / 'side.mp4')
    assert main(['infer', osp.join(configs, 'vsr',
                                   'basicvsr_small_scratch_demo.py'),
                 checkpoint, source, '--out', out, '--compare',
                 '--cfg-options', 'model.mid_channels=8',
                 'model.num_blocks=1']) == 0
    with av.open(out) as container:
        first = next(container.decode(video=0)).to_ndarray(format='rgb24')
    assert first.shape == (96, 256, 3)
    # Another task's inferencer has no side-by-side output.
    other = osp.join(configs, 'interpolation', 'frame_averaging.py')
    assert main(['infer', other, checkpoint, source, '--out',
                 str(tmp_path / 'x.mp4'), '--compare']) == EXIT_USER_ERROR


@pytest.mark.parametrize('decodable, overlap', [(5, 2), (6, 0)])
def test_sequence_shorter_than_total(decodable, overlap):
    # (6, 0) cuts the sequence exactly at the start of a window.
    inferencer = _inferencer(_small_basicvsr())
    frames = _frames(9, 10, 12)

    def read_decodable(indices):
        return frames[[index for index in indices if index < decodable]]

    cut_short = list(inferencer.iter_upscaled(read_decodable, 9,
                                              chunk_size=3, overlap=overlap))
    expected = inferencer.upscale_frames(frames[:decodable], chunk_size=3,
                                         overlap=overlap)
    assert np.array_equal(np.stack(cut_short), expected)
