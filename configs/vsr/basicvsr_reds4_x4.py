# BasicVSR at its published size (64 channels, 30 residual blocks per
# branch, x4) on REDS, validated on REDS4 (sequences 000, 011, 015, 020),
# following the training recipe of Chan et al. (CVPR 2021): Adam with lr 2e-4,
# SPyNet frozen for the first 5000 iterations and then trained at 1/8 of the
# lr, cosine schedule over 300k iterations, clips of 15 frames and 256x256
# HR patches. Set data_root to the REDS folder and spynet_pretrained to a
# SPyNet checkpoint (vidft, mmagic or BasicSR keys) before training.
_base_ = ['../_base_/default_runtime.py']

_data_root = 'data/REDS'
_reds4 = ['000', '011', '015', '020']
_scale = 4

model = dict(
    type='vsr.BasicVSR',
    scale=_scale,
    mid_channels=64,
    num_blocks=30,
    spynet_pretrained=None,
    loss=dict(type='CharbonnierLoss', eps=1e-6),
    data_preprocessor=dict(type='vsr.VSRDataPreprocessor'))

train_pipeline = [
    dict(type='vsr.LoadFrames'),
    dict(type='vsr.PairedRandomCrop', gt_patch_size=256),
    dict(type='vsr.PairedFlip', direction='horizontal', prob=0.5),
    dict(type='vsr.PairedFlip', direction='vertical', prob=0.5),
    dict(type='vsr.TemporalReverse', prob=0.5),
    dict(type='vsr.PackVSRInputs'),
]
val_pipeline = [dict(type='vsr.LoadFrames'), dict(type='vsr.PackVSRInputs')]

_reds = dict(
    type='vsr.REDSDataset',
    data_root=_data_root,
    meta_file='meta_info_REDS_GT.txt',
    gt_folder='train_sharp',
    lr_folder='train_sharp_bicubic/X4',
    scale=_scale)

train_dataloader = dict(
    batch_size=2,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **_reds,
        num_frames=15,
        exclude_sequences=_reds4,
        pipeline=train_pipeline))

# Each REDS4 sequence whole (100 frames): every frame is evaluated. REDS4
# figures are reported on RGB without a border crop (mmagic's BasicVSR model
# page); the other VSR test sets use the Y channel.
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **_reds,
        num_frames=None,
        sequences=_reds4,
        test_mode=True,
        pipeline=val_pipeline))
val_evaluator = [
    dict(type='PSNR', channel='rgb', crop_border=0, data_range=255),
    dict(type='SSIM', channel='rgb', crop_border=0, data_range=255),
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

_max_iters = 300000
_spynet_frozen_iters = 5000
_spynet_lr_mult = 0.125

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=_max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    constructor='VidftOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=2e-4, betas=(0.9, 0.99)),
    paramwise_cfg=dict(custom_keys={'spynet': dict(lr_mult=_spynet_lr_mult)}))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False,
         eta_min=1e-7)
]
custom_hooks = [
    dict(type='UnfreezeHook', patterns=['spynet'],
         unfreeze_at=_spynet_frozen_iters, by_epoch=False,
         lr_mult=_spynet_lr_mult)
]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000,
                    save_best='RGB-crop0-range255/PSNR', rule='greater'))
log_processor = dict(by_epoch=False)

inferencer = dict(type='vsr.VSRInferencer', chunk_size=30, overlap=5)
