# TSN with a torchvision ResNet-50 pretrained on ImageNet, fine-tuned on your
# own labelled videos. A new linear layer for your classes replaces the
# ImageNet classifier. Training uses SGD (lr 0.001, momentum 0.9) and
# cross-entropy, and top-1 accuracy is measured on the validation set after
# every epoch.
#
# Before training:
#   1. Set data_root, ann_file_train, ann_file_val and _num_classes below.
#      Annotation files list '<video path relative to data_root> <label>'
#      per line (mmaction2's list format). recognition.VideoDataset also
#      reads CSV, Kinetics, class-per-folder and UCF101/HMDB51 splits.
#   2. Put torchvision's ResNet-50 ImageNet weights (resnet50-0676ba61.pth)
#      in torch.hub's checkpoint folder. vidft downloads nothing, and the
#      error on the first run gives the exact path and URL.
# Then: vidft train configs/recognition/tsn_r50_imagenet_sgd_custom.py
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/custom/videos'
ann_file_train = 'data/custom/train_list.txt'
ann_file_val = 'data/custom/val_list.txt'
_num_classes = 2

# TSN samples one frame from each of 8 equal segments of a video.
_num_segments = 8

model = dict(
    type='recognition.Recognizer2D',
    backbone=dict(
        type='TorchvisionBackbone',
        name='resnet50',
        weights='torchvision://ResNet50_Weights.IMAGENET1K_V1'),
    cls_head=dict(
        type='ClsHead',
        num_classes=_num_classes,
        in_channels=2048,
        dropout_ratio=0.4,
        init_std=0.01),
    # torchvision's ImageNet weights expect RGB normalised with the ImageNet
    # mean and std (0-255 units).
    data_preprocessor=dict(
        type='VideoDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCHW'))

train_pipeline = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=_num_segments),
    dict(type='VideoDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]
val_pipeline = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1,
         num_clips=_num_segments, test_mode=True),
    dict(type='VideoDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='recognition.VideoDataset',
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        num_classes=_num_classes,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='recognition.VideoDataset',
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        num_classes=_num_classes,
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

# Top-1 only: top-5 is undefined for fewer than 5 classes.
val_evaluator = dict(type='AccuracyMetric', topk=(1, ))
test_evaluator = val_evaluator

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=25, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# A constant learning rate. Add a param_scheduler for longer schedules.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.001, momentum=0.9))

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                    save_best='acc/top1', rule='greater'))
