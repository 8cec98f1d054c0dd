"""Stylize video files with a trained stylization model (``vidft infer``)."""
import itertools
import logging
import os.path as osp
from typing import Any, Dict, Iterator, Optional, Union

import numpy as np
import torch
from mmengine.config import Config
from tqdm import tqdm

from vidft.data.video import (VideoWriter, check_decoded_count,
                              default_output_path, open_video)
from vidft.models import warn_untrained
from vidft.registry import MODELS

from .registry import INFERENCERS

logger = logging.getLogger(__name__)

#: Defaults of the options that the config's ``inferencer`` dict, the
#: constructor and :meth:`StylizationInferencer.__call__` may override.
DEFAULT_OPTIONS: Dict[str, Any] = dict(
    batch_size=8,  # frames decoded and stylized at a time; bounds memory
    codec='libx264',
    crf=18,  # x264 constant rate factor; lower is better quality
    progress=True,  # a tqdm bar over frames on stderr
)


def _check_options(options: Dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(DEFAULT_OPTIONS))
    if unknown:
        raise TypeError(f'unknown inferencer options {unknown}; valid '
                        f'options: {sorted(DEFAULT_OPTIONS)}')
    batch_size = options.get('batch_size', 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or \
            batch_size < 1:
        raise ValueError(f'expected batch_size >= 1, got {batch_size!r}')


@INFERENCERS.register_module()
class StylizationInferencer:
    """Stylize videos with the model of a stylization config.

    Frames are decoded, stylized and encoded ``batch_size`` at a time, so
    memory stays bounded whatever the video's length. The output has the
    input's frame rate and size.

    Style images at inference time: ``VideoStylizer`` with
    ``TransformerNet`` learns one style per network, so ``style`` is
    rejected for it. Only a model whose ``takes_style_image`` is True
    (an arbitrary-style network) accepts one.

    Args:
        config: Config file or object with ``model``.
        checkpoint: A training checkpoint (``.pth`` with a ``state_dict``,
            read with :func:`vidft.engine.checkpoint.safe_load`), a plain
            state dict file, or ``.safetensors``; None keeps the initial
            weights.
        device: Torch device to run the model on.
        **options: Overrides of :data:`DEFAULT_OPTIONS`, such as the keys of
            the config's ``inferencer`` dict.
    """

    #: ``vidft infer --style IMAGE`` passes the image on as ``style``.
    accepts_style = True

    @staticmethod
    def check_options(options: Dict[str, Any]) -> None:
        """Raise TypeError or ValueError for constructor options (the keys
        of a config's ``inferencer`` dict) that this class rejects."""
        _check_options(options)

    def __init__(self, config: Union[str, Config],
                 checkpoint: Optional[str] = None, device: str = 'cpu',
                 **options: Any) -> None:
        _check_options(options)
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        if 'model' not in cfg:
            raise KeyError(f"expected a 'model' entry in the config "
                           f'{config!r}')
        model_cfg = dict(cfg.model)
        # The loss network is not needed to stylize.
        model_cfg['perceptual_loss'] = None
        self.device = torch.device(device)
        self.model = MODELS.build(model_cfg)
        self.load_report = None
        if checkpoint is not None:
            self.load_report = self._load_checkpoint(checkpoint)
        else:
            warn_untrained(self.model)
        self.model.to(self.device).eval()
        self.options = {**DEFAULT_OPTIONS, **options}

    def _load_checkpoint(self, path: str) -> Any:
        from vidft.finetune import load_pretrained

        if path.endswith('.safetensors'):
            return load_pretrained(self.model, path, strict=True)
        # Training checkpoints hold mmengine objects besides tensors, which
        # safe_load allows without running code from the file.
        from vidft.engine.checkpoint import safe_load
        checkpoint = safe_load(path)
        if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
            checkpoint = checkpoint['state_dict']
        return load_pretrained(self.model, checkpoint, strict=True)

    @torch.no_grad()
    def stylize_frames(self, frames: np.ndarray) -> np.ndarray:
        """Stylize uint8 RGB frames ``(T, H, W, 3)`` into uint8 frames of
        the same shape."""
        if frames.dtype != np.uint8 or frames.ndim != 4 or \
                frames.shape[-1] != 3:
            raise ValueError(f'expected uint8 frames (T, H, W, 3), got '
                             f'{frames.dtype} {frames.shape}')
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(
            self.device).permute(0, 3, 1, 2).float() / 255.0
        output = self.model.stylize(tensor)
        output = (output * 255.0).round().clamp(0, 255).to(torch.uint8)
        return output.permute(0, 2, 3, 1).cpu().numpy()

    def iter_stylized(self, reader: Any, total: int,
                      batch_size: int) -> Iterator[np.ndarray]:
        """Yield the stylized first ``total`` frames of ``reader`` (a
        :class:`vidft.data.video.VideoReader`) one at a time, stylizing
        ``batch_size`` frames per forward pass. Fewer come out when fewer
        frames decode (see :meth:`VideoReader.iter_frames`)."""
        frames = itertools.islice(reader.iter_frames(batch_size), total)
        while True:
            batch = list(itertools.islice(frames, batch_size))
            if not batch:
                return
            yield from self.stylize_frames(np.stack(batch))

    @staticmethod
    def format_result(out_path: str) -> str:
        """Describe the written video in one line, for ``vidft infer``."""
        with open_video(out_path) as reader:
            return (f'wrote {out_path}: {len(reader)} frames, '
                    f'{reader.width}x{reader.height}, {reader.fps:.3f} fps')

    def style_problem(self, style: str) -> Optional[str]:
        """Return why the model cannot take the style image ``style``, or
        None when it can."""
        if not getattr(self.model, 'takes_style_image', False):
            network = getattr(self.model, 'transformer', self.model)
            return (f'{type(self.model).__name__} with '
                    f'{type(network).__name__} is trained for one style and '
                    f'takes no style image, got style={style!r}. To use this '
                    'image, fine-tune the model to it: set style_image in a '
                    'copy of configs/stylization/'
                    'transformer_effnetlite0_newstyle_skvideo_demo.py and '
                    'train')
        if not osp.isfile(style):
            return f'the style image {style} does not exist'
        return None

    def __call__(self, input_path: str, out_path: Optional[str] = None,
                 style: Optional[str] = None, *, out: Optional[str] = None,
                 **options: Any) -> str:
        """Write the stylized ``input_path`` to ``out_path`` and return it.

        Args:
            input_path: Video file readable by
                :func:`vidft.data.video.open_video`.
            out_path: Output video; by default ``<input stem>_stylized.mp4``
                beside the input, which must not exist yet.
            style: Style image for a model that takes one; an error for
                per-style networks (see the class doc).
            out: Another name for ``out_path``, the one ``vidft infer``
                uses; pass at most one of them.
            **options: Overrides of :data:`DEFAULT_OPTIONS`.
        """
        if style is not None:
            problem = self.style_problem(style)
            if problem is not None:
                raise ValueError(problem)
        if out_path is not None and out is not None and out_path != out:
            raise ValueError(f'expected at most one of out_path and out, got '
                             f'{out_path!r} and {out!r}')
        out_path = out_path or out
        if out_path is None:
            out_path = default_output_path(
                osp.splitext(input_path)[0] + '_stylized.mp4')
        _check_options(options)
        opts = {**self.options, **options}

        with open_video(input_path) as reader:
            total, fps = len(reader), float(reader.fps)
            height, width = reader.height, reader.width
            logger.info('Stylizing %s (%d frames, %dx%d, %.3f fps) into %s',
                        input_path, total, width, height, fps, out_path)
            with VideoWriter(out_path, fps, opts['codec'], opts['crf'],
                             width, height, source=input_path) as writer:
                frames = self.iter_stylized(reader, total,
                                            opts['batch_size'])
                for frame in tqdm(frames, total=total, unit='frame',
                                  disable=not opts['progress']):
                    writer.write(frame)
                check_decoded_count(reader, total, writer.frames_written)
        return out_path
