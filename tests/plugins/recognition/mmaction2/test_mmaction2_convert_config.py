"""``vidft convert-config`` on configs in mmaction2's format, then training.

The mmaction2 configs below are written for the test with the keys, base
files and pipeline steps of mmaction2 1.2.0's TSN and TSM configs
(``configs/_base_/models/tsm_r50.py``, ``configs/recognition/tsm/tsm_
imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py``), with small
frame sizes. mmaction2 is not imported.
"""
import json
import os
import sys
import textwrap
from pathlib import Path

import av
import numpy as np
import pytest

from vidft.cli import main
from vidft.config import load_config
from vidft_recognition.mmaction2 import (convert_mmaction2_cfg,
                                         convert_mmaction2_config)

MODEL_BASE = '''
model = dict(
    type='Recognizer2D',
    backbone=dict(
        type='ResNetTSM',
        pretrained='torchvision://resnet50',
        depth=50,
        norm_eval=False,
        shift_div=8),
    cls_head=dict(
        type='TSMHead',
        num_classes=400,
        in_channels=2048,
        spatial_type='avg',
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.5,
        init_std=0.001,
        is_shift=True,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'),
    train_cfg=None,
    test_cfg=None)
'''

SCHEDULE_BASE = '''
train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=100, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(type='MultiStepLR', begin=0, end=100, by_epoch=True,
         milestones=[40, 80], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=40, norm_type=2))
'''

RUNTIME_BASE = '''
default_scope = 'mmaction'
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20, ignore_last=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=True)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='ActionVisualizer', vis_backends=vis_backends)
log_level = 'INFO'
load_from = None
resume = False
'''

TSM_CONFIG = '''
_base_ = [
    '../../_base_/models/tsm_r50.py', '../../_base_/schedules/sgd_50e.py',
    '../../_base_/default_runtime.py'
]

model = dict(cls_head=dict(num_classes=2, num_segments=8))

dataset_type = 'VideoDataset'
data_root = '{data_root}'
data_root_val = '{data_root}'
ann_file_train = '{ann_file}'
ann_file_val = '{ann_file}'

file_client_args = dict(io_backend='disk')

train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 40)),
    dict(
        type='MultiScaleCrop',
        input_size=32,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=8,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 40)),
    dict(type='CenterCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root_val),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=1, val_begin=1, val_interval=1)

optim_wrapper = dict(
    constructor='TSMOptimWrapperConstructor',
    paramwise_cfg=dict(fc_lr5=True),
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=3))
auto_scale_lr = dict(enable=False, base_batch_size=128)
'''


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def write_video(path: Path, seed: int, num_frames: int = 12,
                size=(48, 40)) -> None:
    rng = np.random.default_rng(seed)
    width, height = size
    with av.open(str(path), 'w', format='mp4') as container:
        stream = container.add_stream('mpeg4', rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, \
            'yuv420p'
        for index in range(num_frames):
            image = rng.integers(0, 256, (height, width, 3), np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format='rgb24')
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.fixture
def mmaction2_tree(tmp_path: Path) -> Path:
    """An mmaction2-style config tree and two tiny labelled videos."""
    videos = tmp_path / 'videos'
    videos.mkdir()
    write_video(videos / 'a.mp4', seed=0)
    write_video(videos / 'b.mp4', seed=1)
    ann_file = tmp_path / 'list.txt'
    # mmaction2's video list: '<path relative to data_prefix> <label>'.
    ann_file.write_text('a.mp4 0\nb.mp4 1\n')

    configs = tmp_path / 'configs'
    write(configs / '_base_/models/tsm_r50.py', MODEL_BASE)
    write(configs / '_base_/schedules/sgd_50e.py', SCHEDULE_BASE)
    write(configs / '_base_/default_runtime.py', RUNTIME_BASE)
    write(configs / 'recognition/tsm/tsm_test.py',
          TSM_CONFIG.format(data_root=videos, ann_file=ann_file))
    return configs / 'recognition/tsm/tsm_test.py'


def test_tsm_model_converted(mmaction2_tree):
    result = convert_mmaction2_config(str(mmaction2_tree))
    model = result.config['model']

    assert model['type'] == 'recognition.Recognizer2D'
    assert model['backbone'] == dict(
        type='TorchvisionBackbone', name='resnet50',
        weights='torchvision://ResNet50_Weights.IMAGENET1K_V1',
        norm_eval=False)
    assert model['temporal_shift'] == dict(num_segments=8, shift_div=8)
    assert model['cls_head']['num_classes'] == 2
    assert model['cls_head']['dropout_ratio'] == 0.5
    assert model['data_preprocessor']['format_shape'] == 'NCHW'


def test_tsm_pipeline_converted(mmaction2_tree):
    result = convert_mmaction2_config(str(mmaction2_tree))
    pipeline = result.config['train_dataloader']['dataset']['pipeline']
    types = [step['type'] for step in pipeline]
    assert types == ['VideoInit', 'SampleFrames', 'VideoDecode', 'Resize',
                     'recognition.MultiScaleCrop', 'Resize', 'Flip',
                     'FormatShape', 'PackVideoInputs']
    assert pipeline[1] == dict(type='SampleFrames', clip_len=1,
                               frame_interval=1, num_clips=8)
    assert pipeline[4]['scales'] == [1, 0.875, 0.75, 0.66]


def test_schedule_and_skipped_options(mmaction2_tree):
    result = convert_mmaction2_config(str(mmaction2_tree))
    config = result.config

    assert config['train_cfg']['max_epochs'] == 1
    assert config['param_scheduler'][0]['milestones'] == [40, 80]
    assert config['optim_wrapper']['clip_grad']['max_norm'] == 20
    # TSMOptimWrapperConstructor(fc_lr5=True) as mmengine options.
    assert config['optim_wrapper']['constructor'] == \
        'VidftOptimWrapperConstructor'
    paramwise = config['optim_wrapper']['paramwise_cfg']
    assert paramwise['bias_lr_mult'] == 2.0
    assert paramwise['norm_decay_mult'] == 0.0
    assert paramwise['custom_keys']['cls_head.fc.weight'] == dict(
        lr_mult=5.0)
    # Top-5 is undefined for the test's 2 classes.
    assert config['val_evaluator'] == dict(type='AccuracyMetric', topk=[1])
    assert config['default_hooks']['checkpoint']['interval'] == 3
    skipped = '\n'.join(result.skipped)
    assert 'TSMOptimWrapperConstructor' not in skipped
    assert 'ActionVisualizer' in skipped
    assert 'val_evaluator.topk=' in skipped


@pytest.mark.slow
def test_convert_then_train_one_iteration(mmaction2_tree, tmp_path, capsys):
    out = tmp_path / 'tsm_vidft.py'
    assert main(['convert-config', str(mmaction2_tree), '-o', str(out)]) == 0
    printed = capsys.readouterr().err
    assert 'ActionVisualizer' in printed

    # No ImageNet file in tests: train from random weights. 2 videos in
    # batches of 2 make one iteration per epoch.
    work_dir = tmp_path / 'work'
    status = main(['train', str(out), '--work-dir', str(work_dir),
                   '--cfg-options', 'model.backbone.weights=None',
                   'randomness.seed=0'])
    assert status == 0
    assert (work_dir / 'epoch_1.pth').is_file()
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    assert scalars, 'training logged no scalars'
    records = [json.loads(line) for line in
               scalars[-1].read_text().splitlines()]
    assert any('acc/top1' in record for record in records)


def test_converted_config_validates(mmaction2_tree, tmp_path):
    result = convert_mmaction2_config(str(mmaction2_tree))
    out = tmp_path / 'tsm_vidft.py'
    out.write_text(result.to_text())
    cfg = load_config(str(out))

    # The written text reads back as the converted values.
    for key, value in result.config.items():
        assert cfg[key] == value, key


def test_mmaction2_not_imported(mmaction2_tree):
    convert_mmaction2_config(str(mmaction2_tree))
    assert 'mmaction' not in sys.modules


I3D_MODEL = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3d', pretrained2d=True,
        pretrained='torchvision://resnet50', depth=50,
        conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
        conv_cfg=dict(type='Conv3d'), norm_eval=False,
        inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
        zero_init_residual=False),
    cls_head=dict(type='I3DHead', num_classes=400, in_channels=2048,
                  spatial_type='avg', dropout_ratio=0.5, init_std=0.01,
                  average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor',
                           mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375],
                           format_shape='NCTHW'))


def test_i3d_model_converted():
    backbone = convert_mmaction2_cfg(dict(model=I3D_MODEL)).config[
        'model']['backbone']
    assert backbone['type'] == 'recognition.ResNet3d'
    assert backbone['conv1_kernel'] == [5, 7, 7]
    assert backbone['conv1_stride_t'] == 2
    assert backbone['pool1_stride_t'] == 2
    assert backbone['with_pool2'] is True
    assert backbone['pretrained'] == \
        'torchvision://ResNet50_Weights.IMAGENET1K_V1'


def test_slowonly_defaults_filled():
    model = dict(I3D_MODEL, backbone=dict(
        type='ResNet3dSlowOnly', depth=50,
        pretrained='torchvision://resnet50', lateral=False,
        norm_eval=False))
    backbone = convert_mmaction2_cfg(dict(model=model)).config[
        'model']['backbone']
    assert backbone['conv1_kernel'] == [1, 7, 7]
    assert backbone['inflate'] == [0, 0, 1, 1]
    assert backbone['with_pool2'] is False


def test_unsupported_options_reported():
    model = dict(I3D_MODEL, backbone=dict(
        I3D_MODEL['backbone'], non_local=((0, 0, 0), (1, 0, 1, 0),
                                          (1, 0, 1, 0, 1, 0), (0, 0, 0)),
        spatial_strides=(1, 2, 2, 1)))
    skipped = convert_mmaction2_cfg(dict(model=model)).skipped
    assert any(line.startswith('model.backbone.non_local=')
               for line in skipped)
    assert any(line.startswith('model.backbone.spatial_strides=')
               for line in skipped)


def test_unsupported_family_raises():
    model = dict(type='Recognizer3D', backbone=dict(type='SwinTransformer3D'),
                 cls_head=dict(type='I3DHead'))
    with pytest.raises(ValueError, match='SwinTransformer3D'):
        convert_mmaction2_cfg(dict(model=model))


def test_legacy_config_raises():
    legacy = dict(model=I3D_MODEL, data=dict(videos_per_gpu=8),
                  lr_config=dict(policy='step', step=[40, 80]),
                  total_epochs=100)
    with pytest.raises(ValueError, match=r"0\.x config .*'data', 'lr_config', "
                       r"'total_epochs'"):
        convert_mmaction2_cfg(legacy)
    with pytest.raises(ValueError, match=r'0\.x config'):
        convert_mmaction2_cfg(dict(legacy, test_dataloader=None))
    # A variable that only shares the name is not a 0.x key.
    assert convert_mmaction2_cfg(dict(model=I3D_MODEL, data='kinetics400')).config


def test_leftover_legacy_keys_reported():
    cfg = dict(model=I3D_MODEL, optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
               lr_config=dict(policy='step', step=[40, 80]))
    skipped = convert_mmaction2_cfg(cfg).skipped
    assert any(line.startswith('lr_config=') and '0.x' in line for line in skipped)


def test_cli_reports_unsupported_family(tmp_path, capsys):
    config = tmp_path / 'x.py'
    config.write_text("model = dict(type='Recognizer3D', backbone=dict("
                      "type='X3D'), cls_head=dict(type='X3DHead'))\n")
    assert main(['convert-config', str(config)]) == 1
    assert 'X3D' in capsys.readouterr().err


def test_load_from_becomes_hook(tmp_path):
    result = convert_mmaction2_cfg(dict(model=I3D_MODEL,
                                        load_from='ckpt/i3d.pth'))
    assert result.config['load_from'] is None
    assert result.config['custom_hooks'] == [dict(
        type='recognition.LoadMMAction2Checkpoint',
        checkpoint='ckpt/i3d.pth')]


def test_rawframe_template_moves_to_decode():
    dataloader = dict(batch_size=1, dataset=dict(
        type='RawframeDataset', ann_file='list.txt',
        data_prefix=dict(img='frames'), filename_tmpl='img_{:05}.jpg',
        pipeline=[dict(type='SampleFrames', clip_len=1, num_clips=3),
                  dict(type='RawFrameDecode'),
                  dict(type='FormatShape', input_format='NCHW'),
                  dict(type='PackActionInputs')]))
    config = convert_mmaction2_cfg(dict(
        model=I3D_MODEL, train_dataloader=dataloader)).config
    dataset = config['train_dataloader']['dataset']
    assert dataset['type'] == 'recognition.RawframeDataset'
    assert 'filename_tmpl' not in dataset
    assert dataset['pipeline'][1] == dict(type='RawFrameDecode',
                                          filename_tmpl='img_{:05}.jpg')


def test_cli_refuses_to_overwrite(mmaction2_tree, tmp_path):
    out = tmp_path / 'exists.py'
    out.write_text('# keep\n')
    assert main(['convert-config', str(mmaction2_tree), '-o', str(out)]) == 1
    assert out.read_text() == '# keep\n'
    assert os.path.getsize(out) > 0


def test_dense_sampling_becomes_uniform():
    dataloader = dict(batch_size=1, dataset=dict(
        type='VideoDataset', ann_file='list.txt',
        pipeline=[dict(type='DenseSampleFrames', clip_len=32,
                       frame_interval=2, num_clips=1, sample_range=64)]))
    result = convert_mmaction2_cfg(dict(model=I3D_MODEL,
                                        train_dataloader=dataloader))
    step = result.config['train_dataloader']['dataset']['pipeline'][0]
    assert step == dict(type='SampleFrames', clip_len=32, frame_interval=2,
                        num_clips=1)
    assert any('DenseSampleFrames' in line for line in result.skipped)


def test_flip_label_map_carries_over():
    # Something-Something configs swap the labels of left/right classes when
    # they flip.
    flip = dict(type='Flip', flip_ratio=0.5,
                flip_label_map={86: 87, 87: 86, 93: 94, 94: 93})
    dataloader = dict(batch_size=1, dataset=dict(
        type='VideoDataset', ann_file='list.txt', pipeline=[flip]))
    result = convert_mmaction2_cfg(dict(model=I3D_MODEL,
                                        train_dataloader=dataloader))
    step = result.config['train_dataloader']['dataset']['pipeline'][0]
    assert step == flip
    assert not any('flip_label_map' in line for line in result.skipped)


def test_torchvision_url_becomes_file_name():
    model = dict(I3D_MODEL, backbone=dict(
        I3D_MODEL['backbone'],
        pretrained='https://download.pytorch.org/models/'
        'resnet50-11ad3fa6.pth'))
    backbone = convert_mmaction2_cfg(dict(model=model)).config[
        'model']['backbone']
    assert backbone['pretrained'] == 'torchvision://resnet50-11ad3fa6.pth'


def test_written_text_wraps_long_values():
    from vidft_recognition.mmaction2.formatting import format_value
    value = dict(type='X', pipeline=[dict(type='Resize', scale=(-1, 256))
                                     for _ in range(4)], options={1: 'a'})
    text = format_value(value, column=len('model = '))
    assert text.startswith('dict(\n    type=')
    assert "    options={1: 'a'},\n" in text
    assert max(len(line) for line in text.splitlines()) <= 79
    assert eval(text) == value  # noqa: S307  (text made by the test)
