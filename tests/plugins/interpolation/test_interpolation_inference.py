"""Tests of the video inferencer: frame counts, fps, odd sizes and scene cuts."""
import os.path as osp
from fractions import Fraction

import av
import numpy as np
import pytest
from mmengine.config import Config

from vidft.registry import INFERENCERS
from vidft_interpolation.inference import InterpolationInferencer

HEIGHT, WIDTH = 37, 51  # odd on purpose


def moving_square(index: int, background: int) -> np.ndarray:
    frame = np.full((HEIGHT, WIDTH, 3), background, np.uint8)
    frame[10:20, 4 + 2 * index:14 + 2 * index] = 250
    return frame


def write_video(path: str, frames, fps: int = 10) -> None:
    with av.open(path, mode='w') as container:
        stream = container.add_stream('libx264', rate=fps)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.pix_fmt = 'yuv444p'
        stream.options = {'crf': '0'}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format='rgb24')):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_frame_folder(folder, frames) -> str:
    import cv2

    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f'{index:04d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return str(folder)


def read_video(path: str):
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        frames = [f.to_ndarray(format='rgb24') for f in container.decode(video=0)]
    return frames, rate


@pytest.fixture(scope='module')
def clip_with_cut(tmp_path_factory):
    """Six frames of a dark shot, then four of a bright shot (cut before frame 6)."""
    frames = [moving_square(i, 20) for i in range(6)] + [moving_square(i, 200) for i in range(4)]
    path = str(tmp_path_factory.mktemp('video') / 'clip.mp4')
    write_video(path, frames)
    return path, frames


def averaging_config() -> Config:
    return Config(dict(model=dict(type='interpolation.FrameAveraging'),
                       inferencer=dict(type='interpolation.InterpolationInferencer')))


@pytest.mark.parametrize('factor', [2, 3])
def test_frame_count_fps_and_size(clip_with_cut, tmp_path, factor):
    source, frames = clip_with_cut
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu')
    out = str(tmp_path / f'x{factor}.mp4')

    summary = inferencer(source, out, factor=factor, show_progress=False, crf=0)

    written, rate = read_video(out)
    assert len(written) == factor * len(frames)
    assert rate == Fraction(10 * factor)
    assert written[0].shape == (HEIGHT, WIDTH, 3)
    assert summary['scene_cuts'] == 1
    assert summary['interpolated_pairs'] == len(frames) - 2


def test_scene_cut_repeats_frame(clip_with_cut, tmp_path):
    source, frames = clip_with_cut
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu')
    out = str(tmp_path / 'x2.mp4')
    inferencer(source, out, factor=2, show_progress=False, crf=0)
    written, _ = read_video(out)
    as_int = [frame.astype(np.int16) for frame in written]

    # Between frames 0 and 1 the average is written; across the cut
    # (frames 5 and 6) frame 5 is repeated.
    average = (frames[0].astype(np.int16) + frames[1]) / 2
    assert np.abs(as_int[1] - average).mean() < 3
    assert np.abs(as_int[11] - frames[5]).mean() < 3
    assert np.abs(as_int[11] - (frames[5].astype(np.int16) + frames[6]) / 2).mean() > 30

    no_detection = str(tmp_path / 'no_cut.mp4')
    inferencer(source, no_detection, factor=2, show_progress=False, crf=0,
               scene_cut_threshold=None)
    blended, _ = read_video(no_detection)
    assert np.abs(blended[11].astype(np.int16) - frames[5]).mean() > 30


def test_rife_model_on_odd_frames(clip_with_cut, tmp_path):
    source, frames = clip_with_cut
    cfg = Config(dict(model=dict(type='interpolation.RIFE', flow_channels=(8, 8),
                                 scales=(2, 1), num_convs=1, refine_channels=4)))
    inferencer = INFERENCERS.build(dict(type='interpolation.InterpolationInferencer',
                                        config=cfg, checkpoint=None, device='cpu'))
    out = str(tmp_path / 'rife.mp4')
    summary = inferencer(source, out, factor=4, show_progress=False)
    written, _ = read_video(out)
    assert len(written) == 4 * len(frames)
    assert summary['output_fps'] == 40.0


def test_unknown_option_rejected(clip_with_cut, tmp_path):
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu')
    with pytest.raises(TypeError, match='scale'):
        inferencer(clip_with_cut[0], str(tmp_path / 'x.mp4'), scale=2)
    with pytest.raises(ValueError, match='factor'):
        inferencer(clip_with_cut[0], str(tmp_path / 'x.mp4'), factor=1.5)


def test_cli_calling_convention(clip_with_cut, tmp_path):
    # vidft infer builds with the inferencer dict's extra keys and calls with out=.
    inferencer = InterpolationInferencer(config=averaging_config(), checkpoint=None,
                                         device='cpu', factor=3, show_progress=False)
    out = str(tmp_path / 'cli.mp4')
    summary = inferencer(clip_with_cut[0], out=out)
    assert summary['output_frames'] == 3 * len(clip_with_cut[1])
    assert '30 fps' in inferencer.format_result(summary)
    with pytest.raises(ValueError, match='exactly one output path'):
        inferencer(clip_with_cut[0])


def test_frame_folder_input(clip_with_cut, tmp_path):
    folder = write_frame_folder(tmp_path / 'frames', clip_with_cut[1][:4])
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu')
    out = str(tmp_path / 'folder.mp4')

    summary = inferencer(folder, out, factor=2, show_progress=False, fps=12)

    written, rate = read_video(out)
    assert len(written) == 8
    assert rate == Fraction(24)
    assert summary['interpolated_pairs'] == 3


def test_mostly_cuts_gives_warning(tmp_path):
    # Every frame changes the whole picture, as a fast pan over detail can.
    frames = [moving_square(i, 20 if i % 2 else 200) for i in range(6)]
    path = str(tmp_path / 'flicker.mp4')
    write_video(path, frames)
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu',
                                         show_progress=False)
    summary = inferencer(path, out=str(tmp_path / 'out.mp4'))
    assert summary['scene_cuts'] == 5
    text = inferencer.format_result(summary)
    assert 'warning: 5 of 5 frame pairs counted as scene cuts' in text
    assert 'scene_cut_threshold' in text


def test_few_cuts_give_no_warning(clip_with_cut, tmp_path):
    inferencer = InterpolationInferencer(averaging_config(), None, 'cpu',
                                         show_progress=False)
    summary = inferencer(clip_with_cut[0], out=str(tmp_path / 'out.mp4'))
    assert 'warning' not in inferencer.format_result(summary)


def test_cli_requires_out(clip_with_cut, capsys):
    from vidft.cli import main

    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'frame_averaging.py')
    assert main(['infer', config, 'unused.pth', clip_with_cut[0]]) == 1
    assert 'pass --out OUTPUT.mp4' in capsys.readouterr().err


def decodable_frame_count(path: str) -> int:
    count = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                count += len(packet.decode())
            except av.error.InvalidDataError:
                pass
    return count


def test_damaged_tail_interpolates_what_decodes(clip_with_cut, tmp_path, caplog):
    source, _ = clip_with_cut
    data = bytearray(open(source, 'rb').read())
    with av.open(source) as container:
        packets = [p for p in container.demux(video=0) if p.size]
    rng = np.random.default_rng(0)
    for packet in packets[-3:]:
        data[packet.pos:packet.pos + packet.size] = rng.integers(
            0, 256, packet.size, dtype=np.uint8).tobytes()
    damaged = str(tmp_path / 'damaged.mp4')
    open(damaged, 'wb').write(bytes(data))
    decodable = decodable_frame_count(damaged)
    assert decodable < 10

    inferencer = InterpolationInferencer(averaging_config(), factor=2, show_progress=False)
    with caplog.at_level('WARNING'):
        summary = inferencer(damaged, out=str(tmp_path / 'out.mp4'))
    assert summary['input_frames'] == decodable
    assert len(read_video(str(tmp_path / 'out.mp4'))[0]) == 2 * decodable
    assert 'damaged or cut short' in caplog.text


def test_cli_reads_frame_folder(clip_with_cut, tmp_path, capsys):
    import torch

    from vidft.cli import main
    from vidft.registry import MODELS

    folder = write_frame_folder(tmp_path / 'frames', clip_with_cut[1][:4])
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'rife_small_scratch_demo.py')
    checkpoint = str(tmp_path / 'rife.pth')
    model = MODELS.build(Config.fromfile(config).model)
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    out = str(tmp_path / 'folder.mp4')
    assert main(['infer', config, checkpoint, folder, '--out', out,
                 '--cfg-options', 'inferencer.fps=12']) == 0
    assert '4 frames in, 8 frames out' in capsys.readouterr().out
    written, rate = read_video(out)
    assert len(written) == 8
    assert rate == Fraction(24)


def test_cli_rejects_folder_without_frames(tmp_path, capsys):
    from vidft.cli import main

    folder = tmp_path / 'empty'
    folder.mkdir()
    (folder / 'readme.txt').write_text('no frames here')
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'rife_small_scratch_demo.py')
    # The checkpoint does not exist: the folder is checked before the model
    # and its weights load.
    assert main(['infer', config, str(tmp_path / 'missing.pth'), str(folder),
                 '--out', str(tmp_path / 'out.mp4')]) == 1
    assert 'contains no frames' in capsys.readouterr().err


@pytest.mark.parametrize('option, message', [
    ('inferencer.fps=0', 'fps option to be a number in (0, 1000]'),
    ('inferencer.fps=abc', 'fps option to be a number in (0, 1000]'),
    ('inferencer.fps=True', 'fps option to be a number in (0, 1000]'),
    ('inferencer.fsp=12', "unknown options ['fsp']"),
    ('inferencer.factr=2', "'show_progress'] and factor"),
])
def test_cli_rejects_bad_inferencer_option(clip_with_cut, tmp_path, capsys,
                                           option, message):
    from vidft.cli import main

    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'rife_small_scratch_demo.py')
    # The checkpoint does not exist: options are checked before it loads.
    status = main(['infer', config, str(tmp_path / 'missing.pth'),
                   clip_with_cut[0], '--out', str(tmp_path / 'out.mp4'),
                   '--cfg-options', option])
    assert status == 1
    err = capsys.readouterr().err
    assert 'the inferencer options of' in err
    assert message in err


def test_cli_rejects_folder_for_video_tasks(clip_with_cut, tmp_path, capsys):
    from vidft.cli import main

    folder = write_frame_folder(tmp_path / 'frames', clip_with_cut[1][:2])
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'vsr', 'bicubic_x4_skvideo_demo.py')
    assert main(['infer', config, 'unused.pth', folder]) == 1
    assert 'reads video files only' in capsys.readouterr().err


@pytest.mark.parametrize('damage, message', [
    ('resize', 'expected a frame of 51x37 like those before it, got 40x30'),
    ('empty', 'OpenCV cannot decode this frame'),
])
def test_bad_folder_frame_named_without_output(clip_with_cut, tmp_path, capsys,
                                               damage, message):
    import cv2

    from vidft.cli import main

    folder = write_frame_folder(tmp_path / 'frames', clip_with_cut[1][:5])
    bad = osp.join(folder, '0003.png')
    if damage == 'resize':
        cv2.imwrite(bad, np.zeros((30, 40, 3), np.uint8))
    else:
        open(bad, 'wb').close()
    out = tmp_path / 'out.mp4'
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'frame_averaging.py')
    assert main(['infer', config, 'none', folder, '--out', str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f'vidft infer: error: {bad}: ')
    assert message in err[-1]
    # Frames 0-2 were interpolated before the bad one; none of it is kept.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['frames']


def test_cli_names_checkpoint_of_other_task(clip_with_cut, tmp_path, capsys):
    import torch

    from vidft.cli import main

    checkpoint = str(tmp_path / 'other_task.pth')
    torch.save({'state_dict': {'generator.conv.weight': torch.zeros(2, 2)}},
               checkpoint)
    config = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                      'interpolation', 'rife_small_scratch_demo.py')
    status = main(['infer', config, checkpoint, clip_with_cut[0],
                   '--out', str(tmp_path / 'out.mp4')])
    assert status == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('vidft infer: error: no checkpoint tensor from')
