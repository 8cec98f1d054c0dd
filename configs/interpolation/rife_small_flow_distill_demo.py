# rife_small_scratch_demo.py plus flow distillation: interpolation.TeacherFlow
# computes DIS optical flow from the true middle frame to each input of every
# training triplet, and the flows after each IFBlock are pulled towards it
# (model.flow_distill_weight). The teacher is used in training only.
#   OMP_NUM_THREADS=1 vidft train configs/interpolation/rife_small_flow_distill_demo.py
# docs/benchmarks.md has the measured runs: after 1200 iterations the model
# was 0.005 dB above frame averaging on carphone_pristine.mp4.
_base_ = ['./rife_small_scratch_demo.py']

_crop_size = 64

model = dict(flow_distill_weight=0.01)

train_pipeline = [
    dict(type='interpolation.LoadFrameTuple', cache_mb=1024),
    dict(type='interpolation.SampleTimestep'),
    dict(type='interpolation.RandomCropTuple', crop_size=_crop_size),
    dict(type='interpolation.RandomFlipTuple', horizontal_prob=0.5, vertical_prob=0.5),
    dict(type='interpolation.RandomTemporalFlip', prob=0.5),
    # After every crop, flip and reversal, so that the flows describe the
    # frames the model gets.
    dict(type='interpolation.TeacherFlow'),
    dict(type='interpolation.PackInterpolationInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
