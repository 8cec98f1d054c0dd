"""Upscale video files with a trained VSR model (``vidft infer``)."""
import functools
import logging
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch import Tensor
from tqdm import tqdm

from vidft.data.video import (VideoDecodeError, VideoReader, VideoWriter,
                              check_decoded_count, default_output_path,
                              open_video)

from .degradations import imresize_torch
from .registry import INFERENCERS

logger = logging.getLogger(__name__)

#: Defaults of the options a config's ``inferencer`` dict may override.
DEFAULT_OPTIONS: Dict[str, Any] = dict(
    chunk_size=30,  # frames upscaled per model call
    overlap=5,  # extra frames each side of a chunk, cut from the output
    size_divisor=1,  # pad LR frames to a multiple of this
    codec='libx264',
    crf=18,  # x264 constant rate factor; lower is better quality
    compare=False,  # write bicubic (left) and model output side by side
    progress=True,  # show a tqdm progress bar over frames
)


@dataclass
class VSRResult:
    """The video an inferencer call wrote."""

    out_path: str
    num_frames: int
    width: int
    height: int
    fps: float


@INFERENCERS.register_module()
class VSRInferencer:
    """Upscale videos with the model of a VSR config.

    Long videos are cut into chunks of ``chunk_size`` frames. Each chunk is
    upscaled together with ``overlap`` neighbouring frames on each side,
    whose outputs are discarded, so the recurrent propagation gets context
    across chunk borders while memory stays bounded by ``chunk_size + 2 *
    overlap`` frames. ``overlap >= len(video)`` gives exactly the
    whole-sequence result.

    NOTE: with a smaller overlap, the distance to a whole-sequence run
    depends on how fast the influence of distant frames decays in the
    model. The tests check it
    on a random model with a damped recurrent path (within one 8-bit level
    at 6 frames of overlap), not on trained weights. LR frames are padded at the bottom and right
    (replicating the edge) to a multiple of ``size_divisor`` and the output
    is cropped back to exactly ``scale`` times the input size.

    Options come from :data:`DEFAULT_OPTIONS`, overridden by the config's
    ``inferencer`` dict (besides ``type``), by the keyword arguments of the
    constructor (``vidft infer`` passes that dict's keys there) and by those
    of :meth:`__call__`.

    Args:
        config: Config file or object with ``model``.
        checkpoint: Weights in vidft, mmagic or BasicSR format
            (:func:`vidft_vsr.checkpoint.load_vsr_checkpoint`); ``None``
            keeps the model's initial weights (for the bicubic baseline).
        device: Torch device to run the model on.
        **options: Overrides of :data:`DEFAULT_OPTIONS`.
    """

    #: ``vidft infer --compare`` sets the ``compare`` option.
    accepts_compare = True

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 **options: Any) -> None:
        from vidft.registry import MODELS

        cfg = Config.fromfile(config) if isinstance(config, str) else config
        self.device = torch.device(device)
        self.model = MODELS.build(cfg.model)
        if checkpoint is not None:
            from .checkpoint import load_vsr_checkpoint
            load_vsr_checkpoint(self.model, checkpoint)
        else:
            from vidft.models import warn_untrained
            warn_untrained(self.model)
        self.model.to(self.device).eval()
        self.scale = int(self.model.scale)

        self.options = dict(DEFAULT_OPTIONS)
        configured = dict(cfg.get('inferencer', None) or {})
        configured.pop('type', None)
        self._update_options(self.options, configured)
        self._update_options(self.options, options)

    @staticmethod
    def _update_options(options: Dict[str, Any],
                        overrides: Dict[str, Any]) -> None:
        unknown = sorted(set(overrides) - set(DEFAULT_OPTIONS))
        if unknown:
            raise ValueError(f'unknown inferencer options {unknown}; valid '
                             f'options: {sorted(DEFAULT_OPTIONS)}')
        options.update(overrides)
        if options['chunk_size'] < 1 or options['overlap'] < 0:
            raise ValueError(
                f"expected chunk_size >= 1 and overlap >= 0, got "
                f"{options['chunk_size']} and {options['overlap']}")
        if options['size_divisor'] < 1:
            raise ValueError(f"expected size_divisor >= 1, got "
                             f"{options['size_divisor']}")

    # Model calls.

    @torch.no_grad()
    def _upscale_window(self, frames: np.ndarray,
                        size_divisor: int) -> Tensor:
        """Upscale uint8 frames ``(T, h, w, 3)`` to a float tensor
        ``(T, 3, s h, s w)`` in ``[0, 1]``."""
        lrs = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        lrs = lrs.permute(0, 3, 1, 2).float() / 255.0
        h, w = lrs.shape[-2:]
        pad_h = -h % size_divisor
        pad_w = -w % size_divisor
        if pad_h or pad_w:
            lrs = F.pad(lrs, (0, pad_w, 0, pad_h), mode='replicate')
        output = self.model(lrs.unsqueeze(0), mode='tensor')[0]
        return output[..., :h * self.scale, :w * self.scale].clamp(0, 1)

    @staticmethod
    def _to_uint8(frames: Tensor) -> np.ndarray:
        frames = (frames * 255.0).round().clamp(0, 255).to(torch.uint8)
        return frames.permute(0, 2, 3, 1).cpu().numpy()

    def _bicubic(self, frames: np.ndarray) -> np.ndarray:
        lrs = torch.from_numpy(np.ascontiguousarray(frames)).float()
        lrs = lrs.permute(0, 3, 1, 2) / 255.0
        h, w = lrs.shape[-2:]
        return self._to_uint8(
            imresize_torch(lrs, (h * self.scale, w * self.scale)).clamp(0, 1))

    def iter_upscaled(self, read: Callable[[List[int]], np.ndarray],
                      total: int, **options: Any) -> Iterator[np.ndarray]:
        """Yield the upscaled frames of a sequence of ``total`` frames, in
        order, as uint8 ``(s h, s w, 3)`` (``(s h, 2 s w, 3)`` with the
        bicubic upscaling on the left when ``compare``).

        ``read(indices)`` returns the LR frames ``(len(indices), h, w, 3)``,
        uint8 RGB, for ascending ``indices``; each frame is read once. When
        the sequence turns out shorter than ``total`` (a damaged video), it
        returns the frames that exist, the first ones of ``indices``, and
        the output ends with them. ``options`` override
        :data:`DEFAULT_OPTIONS` for this call.
        """
        opts = dict(self.options)
        self._update_options(opts, options)
        chunk, overlap = opts['chunk_size'], opts['overlap']

        cache: Dict[int, np.ndarray] = {}

        def frames_in(start: int, stop: int) -> List[np.ndarray]:
            missing = [i for i in range(start, stop) if i not in cache]
            if missing:
                cache.update(zip(missing, read(missing)))
            for index in [i for i in cache if i < start]:
                del cache[index]
            stop = start
            while stop in cache:
                stop += 1
            return [cache[i] for i in range(start, stop)]

        begin = 0
        while begin < total:
            end = min(begin + chunk, total)
            first = max(0, begin - overlap)
            last = min(total, end + overlap)
            window = frames_in(first, last)
            if first + len(window) < last:
                total = first + len(window)
                end, last = min(end, total), total
                if begin >= end:
                    return
            window = np.stack(window)
            output = self._to_uint8(
                self._upscale_window(window, opts['size_divisor']))
            kept = output[begin - first:end - first]
            if opts['compare']:
                bicubic = self._bicubic(window[begin - first:end - first])
                kept = np.concatenate([bicubic, kept], axis=2)
            yield from kept
            begin = end

    def upscale_frames(self, frames: np.ndarray,
                       **options: Any) -> np.ndarray:
        """Upscale uint8 frames ``(T, h, w, 3)`` held in memory; see
        :meth:`iter_upscaled` for the options."""
        if frames.dtype != np.uint8 or frames.ndim != 4:
            raise ValueError(f'expected uint8 frames (T, h, w, 3), got '
                             f'{frames.dtype} {frames.shape}')
        return np.stack(
            list(
                self.iter_upscaled(lambda inds: frames[inds], len(frames),
                                   **options)))

    def __call__(self,
                 input_path: str,
                 out_path: Optional[str] = None,
                 out: Optional[str] = None,
                 **options: Any) -> VSRResult:
        """Upscale the video ``input_path`` into a video at the input's
        frame rate.

        Args:
            input_path: Video file readable by
                :func:`vidft.data.video.open_video`.
            out_path: Output video file; by default
                ``<input stem>_x<scale>.mp4`` (``_x<scale>_compare.mp4`` with
                ``compare``) beside the input, which must not exist yet.
            out: The same as ``out_path``, the name ``vidft infer`` passes.
            **options: Overrides of :data:`DEFAULT_OPTIONS`, e.g.
                ``compare=True`` or ``chunk_size=10``.
        """
        if out_path is not None and out is not None and out_path != out:
            raise ValueError(f'expected one output path, got out_path='
                             f'{out_path!r} and out={out!r}')
        out_path = out_path if out_path is not None else out
        opts = dict(self.options)
        self._update_options(opts, options)
        if out_path is None:
            stem = osp.splitext(input_path)[0]
            suffix = '_compare' if opts['compare'] else ''
            out_path = default_output_path(
                f'{stem}_x{self.scale}{suffix}.mp4')

        with open_video(input_path) as reader:
            total, fps = len(reader), reader.fps
            height, width = reader.height, reader.width
            out_w = width * self.scale * (2 if opts['compare'] else 1)
            out_h = height * self.scale
            logger.info('upscaling %s (%d frames, %dx%d, %.3f fps) to %s '
                        '(%dx%d)', input_path, total, width, height, fps,
                        out_path, out_w, out_h)
            with VideoWriter(out_path, fps, opts['codec'], opts['crf'],
                             out_w, out_h, source=input_path) as writer:
                frames = self.iter_upscaled(
                    functools.partial(_read_decodable, reader), total,
                    **opts)
                for frame in tqdm(frames, total=total, unit='frame',
                                  disable=not opts['progress']):
                    writer.write(frame)
                check_decoded_count(reader, total, writer.frames_written)
        return VSRResult(out_path, writer.frames_written, out_w, out_h, fps)

    @staticmethod
    def format_result(result: VSRResult) -> str:
        """Describe a result in one line, for ``vidft infer``."""
        return (f'wrote {result.out_path}: {result.num_frames} frames, '
                f'{result.width}x{result.height}, {result.fps:.3f} fps')


def _read_decodable(reader: VideoReader, indices: List[int]) -> np.ndarray:
    """Read ascending ``indices`` from ``reader``, leaving out those at or
    past the end that a decode found (``len(reader)`` drops then)."""
    try:
        return reader.get(indices)
    except (VideoDecodeError, IndexError):
        if indices[-1] < len(reader):
            raise
    kept = [index for index in indices if index < len(reader)]
    if not kept:
        return np.empty((0, reader.height, reader.width, 3), np.uint8)
    return reader.get(kept)
