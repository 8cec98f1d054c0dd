"""Short real training runs of the demo recipes on tiny synthetic videos."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from stylization_helpers import CONTENT_LAYER, STYLE_LAYERS
from vidft.engine import build_runner
from vidft_stylization import StylizationInferencer

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                   'stylization')


class FirstWeights(Hook):
    """Record the transformer's weights before the first iteration."""

    def __init__(self) -> None:
        self.weights = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if self.weights is None:
            model = runner.model.module if hasattr(
                runner.model, 'module') else runner.model
            self.weights = {k: v.detach().clone() for k, v in
                            model.transformer.state_dict().items()}


def _tiny(config: str, tmp_path, make_video, max_iters: int) -> Config:
    """The recipe shrunk to a tiny network and tiny frames."""
    data = tmp_path / 'videos'
    data.mkdir(exist_ok=True)
    for name, seed in (('train_a.mp4', 1), ('held_out.mp4', 2)):
        if not (data / name).exists():
            make_video(f'videos/{name}', num_frames=5, seed=seed)

    cfg = Config.fromfile(osp.join(CONFIGS, config))
    loss = cfg.model.perceptual_loss
    loss.update(content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS,
                style_size=64)
    cfg.val_evaluator.perceptual_loss.update(
        content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS,
        style_size=64)
    cfg.model.transformer.update(base_channels=4, num_res_blocks=1)
    for loader, video in ((cfg.train_dataloader, 'train_a'),
                          (cfg.val_dataloader, 'held_out')):
        loader.dataset.update(data_root=str(data), videos=[video],
                              max_frames=5, frame_size=(32, 48),
                              flow_cache_dir=str(tmp_path / 'flows'))
    cfg.train_dataloader.dataset.pipeline[0].crop_size = 24
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    return cfg


def _losses(runner, key: str = 'train/loss'):
    return [float(v) for v in runner.message_hub.get_scalar(key).data[0]]


@pytest.mark.slow
def test_perframe_then_temporal_training_lowers_loss(tmp_path, make_video):
    cfg = _tiny('transformer_effnetlite0_perframe_skvideo_demo.py', tmp_path,
                make_video, max_iters=12)
    cfg.optim_wrapper.optimizer.lr = 5e-3
    runner = build_runner(cfg)
    runner.train()
    losses = _losses(runner)
    assert len(losses) == 12
    assert sum(losses[-3:]) < sum(losses[:3])
    metrics = runner.val()
    for key in ('warping_error', 'input_warping_error', 'style_loss',
                'content_loss'):
        assert f'stylization/{key}' in metrics
    assert 0 < metrics['stylization/warping_error'] < 255
    checkpoint = osp.join(cfg.work_dir, 'iter_12.pth')
    assert osp.isfile(checkpoint)

    # The inferencer reads the training checkpoint as it is.
    inferencer = StylizationInferencer(cfg, checkpoint)
    assert inferencer.load_report.loaded_fraction == pytest.approx(1.0)

    # Temporal fine-tuning starts from that checkpoint (load_from).
    cfg = _tiny('transformer_effnetlite0_temporal_skvideo_demo.py', tmp_path,
                make_video, max_iters=6)
    cfg.work_dir = str(tmp_path / 'work_temporal')
    cfg.load_from = checkpoint
    runner = build_runner(cfg)
    first = FirstWeights()
    runner.register_hook(first)
    runner.train()
    saved = torch.load(checkpoint, map_location='cpu', weights_only=False)
    for key, value in first.weights.items():
        assert torch.equal(value, saved['state_dict'][f'transformer.{key}'])
    temporal = _losses(runner, 'train/loss_temporal')
    assert len(temporal) == 6
    assert all(value >= 0 for value in temporal)
