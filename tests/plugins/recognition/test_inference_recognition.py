import argparse
import textwrap
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from vidft.cli import infer as infer_command
from vidft.config import ConfigError
from vidft_recognition.inference import (RecognitionInferencer,
                                         video_test_pipeline,
                                         write_labelled_video)

CLASSES = ['static', 'pan_left', 'pan_right', 'zoom_in', 'zoom_out', 'tilt',
           'roll']
RATE = Fraction(30000, 1001)
NUM_FRAMES = 23
# Odd sides on purpose: the labelled output pads them to even ones.
WIDTH, HEIGHT = 97, 65

CONFIG = textwrap.dedent('''
    default_scope = 'vidft'
    model = dict(
        type='recognition.Recognizer2D',
        backbone=dict(type='TimmBackbone', model_name='mobilenetv3_small_050'),
        cls_head=dict(type='ClsHead', num_classes=7, dropout_ratio=0.0),
        data_preprocessor=dict(
            type='VideoDataPreprocessor', mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375], format_shape='NCHW'))
    test_pipeline = [
        dict(type='VideoInit'),
        dict(type='SampleFrames', clip_len=1, num_clips=4, test_mode=True),
        dict(type='VideoDecode'),
        dict(type='Resize', scale=(-1, 64)),
        dict(type='CenterCrop', crop_size=64),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackVideoInputs'),
    ]
    test_dataloader = dict(
        batch_size=1, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(type='recognition.VideoDataset', ann_file='test.txt',
                     pipeline=test_pipeline))
''')

# CONFIG with its model wrapped in a LoRA PeftModel.
LORA_CONFIG = CONFIG + textwrap.dedent('''
    model = dict(type='PeftModel', model=model, peft=dict(
        method='lora', target_types=['Conv2d'], r=4, lora_alpha=8))
''')


def write_test_video(path):
    """A moving gradient, odd-sized, at 29.97 fps (x264 4:4:4 allows odd
    sides)."""
    ramp = np.linspace(0, 255, WIDTH * 2).astype(np.uint8)
    with av.open(path, 'w', format='matroska') as container:
        stream = container.add_stream('libx264', rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, 'yuv444p'
        for index in range(NUM_FRAMES):
            row = np.roll(ramp, 3 * index)[:WIDTH]
            rgb = np.stack([np.tile(row, (HEIGHT, 1))] * 3, axis=-1)
            frame = av.VideoFrame.from_ndarray(rgb, format='rgb24')
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def read_video(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format='rgb24')
                  for f in container.decode(stream)]
        return frames, stream.average_rate


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """A config file, a checkpoint of a randomly initialised model with
    class names in its meta, and a generated video."""
    root = tmp_path_factory.mktemp('inference')
    config_path = str(root / 'tsn_tiny.py')
    with open(config_path, 'w') as f:
        f.write(CONFIG)

    inferencer = RecognitionInferencer(Config.fromfile(config_path), None)
    torch.manual_seed(0)
    # The head starts near zero, which makes all scores almost equal.
    torch.nn.init.normal_(inferencer.model.cls_head.fc.weight, std=1.0)
    checkpoint = str(root / 'epoch_1.pth')
    torch.save({'state_dict': inferencer.model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, checkpoint)

    video = str(root / 'input.mkv')
    write_test_video(video)
    return root, config_path, checkpoint, video


def test_predict_matches_model_forward(setup):
    _, config_path, checkpoint, video = setup
    inferencer = RecognitionInferencer(config_path, checkpoint)
    result = inferencer(video)

    # The same sampled clip through the model's tensor mode.
    sample = inferencer.pipeline(dict(filename=video, start_index=0))
    model = inferencer.model
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate([sample]))
        logits = model(data['inputs'], mode='tensor')[0]
    probs = logits.softmax(dim=0)
    expected = torch.argsort(probs, descending=True, stable=True)[:5]

    assert result.num_classes == 7
    assert result.labels == expected.tolist()
    assert result.class_names == [CLASSES[i] for i in expected]
    assert result.scores == pytest.approx(probs[expected].tolist(), abs=1e-5)
    assert result.scores == sorted(result.scores, reverse=True)
    assert result.output is None


def test_labelled_video_keeps_rate_and_frames(setup, tmp_path):
    _, config_path, checkpoint, video = setup
    out = str(tmp_path / 'labelled.mp4')
    inferencer = RecognitionInferencer(config_path, checkpoint, topk=3)
    result = inferencer(video, out=out)
    assert result.output == out
    assert len(result.labels) == 3

    inputs, in_rate = read_video(video)
    outputs, out_rate = read_video(out)
    assert out_rate == in_rate == RATE
    assert len(outputs) == len(inputs) == NUM_FRAMES
    assert outputs[0].shape == (HEIGHT + 1, WIDTH + 1, 3)

    # The label box (three lines, about 47 rows at this frame height)
    # darkens the top-left corner. The rows below it are unchanged up to
    # compression noise.
    frame_in = inputs[5].astype(np.float32)
    frame_out = outputs[5][:HEIGHT, :WIDTH].astype(np.float32)
    assert np.abs(frame_out[:8, :20] - frame_in[:8, :20]).mean() > 20
    assert np.abs(frame_out[52:] - frame_in[52:]).mean() < 4


def test_class_names_override_and_fallback(setup):
    _, config_path, checkpoint, video = setup
    cfg = Config.fromfile(config_path)
    named = RecognitionInferencer(cfg, checkpoint,
                                  class_names=[c.upper() for c in CLASSES])
    assert named(video).class_names[0].isupper()
    unnamed = RecognitionInferencer(cfg, None)
    assert all(n.startswith('class_') for n in unnamed(video).class_names)


def test_mismatched_checkpoint_raises(setup, tmp_path):
    _, config_path, checkpoint, _ = setup
    state_dict = torch.load(checkpoint)['state_dict']
    state_dict.pop('cls_head.fc.bias')
    state_dict['extra.weight'] = torch.zeros(1)
    broken = str(tmp_path / 'broken.pth')
    torch.save(state_dict, broken)
    with pytest.raises(ValueError, match='1 missing keys.*1 unexpected'):
        RecognitionInferencer(config_path, broken)


def test_cli_prints_top5_table(setup, tmp_path, capsys):
    _, config_path, checkpoint, video = setup
    parser = argparse.ArgumentParser()
    infer_command.add_arguments(parser)
    out = str(tmp_path / 'cli.mp4')
    args = parser.parse_args([config_path, checkpoint, video, '--out', out])
    assert infer_command.run(args) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith('top 5 of 7 classes')
    rows = [line.split() for line in printed[2:7]]
    assert [row[0] for row in rows] == ['1', '2', '3', '4', '5']
    assert all(row[2] in CLASSES for row in rows)
    assert printed[-1] == f'labelled video written to {out}'
    assert len(read_video(out)[0]) == NUM_FRAMES


def test_find_inferencer_by_key_and_scope():
    by_scope = Config(dict(model=dict(type='recognition.Recognizer2D')))
    cls, options = infer_command.find_inferencer(by_scope)
    assert cls is RecognitionInferencer
    assert options == {}

    by_key = Config(dict(
        model=dict(type='Recognizer2D'),
        inferencer=dict(type='recognition.RecognitionInferencer', topk=3)))
    cls, options = infer_command.find_inferencer(by_key)
    assert cls is RecognitionInferencer
    assert options == {'topk': 3}


def test_find_inferencer_without_scope_raises():
    cfg = Config(dict(default_scope='vidft', model=dict(type='Recognizer2D')))
    with pytest.raises(ConfigError, match='inferencer = dict'):
        infer_command.find_inferencer(cfg)


def test_find_inferencer_through_wrapper():
    lora = Config(dict(default_scope='vidft', model=dict(
        type='PeftModel', model=dict(type='recognition.Recognizer2D'),
        peft=dict(method='lora'))))
    cls, options = infer_command.find_inferencer(lora)
    assert cls is RecognitionInferencer
    assert options == {}

    nested = Config(dict(default_scope='vidft', model=dict(
        type='Outer', model=dict(type='Inner', model=dict(
            type='recognition.Recognizer2D')))))
    assert infer_command.task_scope(nested) == 'recognition'


def test_missing_inferencer_error_names_file(tmp_path):
    path = tmp_path / 'no_scope.py'
    path.write_text("default_scope = 'vidft'\n"
                    "model = dict(type='Recognizer2D')\n")
    with pytest.raises(ConfigError) as info:
        infer_command.find_inferencer(Config.fromfile(str(path)))
    assert str(info.value).startswith(f'invalid config {path}: inferencer:')


def test_cli_infers_with_lora_checkpoint(setup, tmp_path, capsys):
    _, _, _, video = setup
    config_path = str(tmp_path / 'tsn_tiny_lora.py')
    with open(config_path, 'w') as f:
        f.write(LORA_CONFIG)

    # The base weights are random, so both builds need the same seed to
    # match the base reference that the LoRA checkpoint stores.
    torch.manual_seed(0)
    trained = RecognitionInferencer(Config.fromfile(config_path), None)
    checkpoint = str(tmp_path / 'lora.pth')
    torch.save({'state_dict': trained.model.state_dict(),
                'meta': {'dataset_meta': {'classes': CLASSES}}}, checkpoint)

    parser = argparse.ArgumentParser()
    infer_command.add_arguments(parser)
    args = parser.parse_args([config_path, checkpoint, video])
    torch.manual_seed(0)
    assert infer_command.run(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].endswith('top 5 of 7 classes')
    assert printed[2].split()[2] in CLASSES


def test_missing_class_names_hint_names_key(setup, caplog):
    _, config_path, _, _ = setup
    with caplog.at_level('WARNING'):
        RecognitionInferencer(config_path, None)
    assert ("inferencer = dict(type='recognition.RecognitionInferencer', "
            'class_names=[...])') in caplog.text


def test_rawframe_pipeline_reads_video():
    cfg = Config(dict(val_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(
            type='recognition.RawframeDataset', pipeline=[
                dict(type='SampleFrames', clip_len=1, num_clips=8),
                dict(type='RawFrameDecode'),
                dict(type='PackVideoInputs'),
            ])))))
    types = [t['type'] for t in video_test_pipeline(cfg)]
    assert types == ['VideoInit', 'SampleFrames', 'VideoDecode',
                     'PackVideoInputs']


def test_missing_test_pipeline_raises():
    with pytest.raises(ValueError, match='test pipeline'):
        video_test_pipeline(Config(dict(model=dict())))


@pytest.mark.parametrize('out, match', [('x.gif', 'ending in one of'),
                                        (None, 'other than the input')])
def test_write_labelled_video_rejects_paths(setup, out, match):
    _, _, _, video = setup
    with pytest.raises(ValueError, match=match):
        write_labelled_video(video, out or video, ['x'])
