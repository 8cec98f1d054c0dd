"""Frame-rate up-conversion of whole videos with an interpolation model."""
import logging
import os
import os.path as osp
from fractions import Fraction
from typing import Any, Dict, Iterator, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from tqdm import tqdm

from vidft.data.video import VideoDecodeError, VideoWriter, fps_fraction, open_video
from vidft.models import warn_untrained
from vidft.registry import MODELS

from .converters import load_interpolation_weights
from .datasets.scene_cut import DEFAULT_CUT_THRESHOLD, SceneCutDetector
from .datasets.video_tuples import list_images
from .datasets.transforms import read_rgb_image
from .registry import INFERENCERS

logger = logging.getLogger(__name__)

#: Frames decoded per request from the input video.
READ_CHUNK = 16

#: Frame rate assumed for a folder of frames, which stores none.
FOLDER_FPS = Fraction(25)

_DEFAULT_OPTIONS: Dict[str, Any] = dict(
    scene_cut_threshold=DEFAULT_CUT_THRESHOLD,
    codec='libx264',
    crf=18,
    show_progress=True,
    fps=None,
    max_batch=4,
)


def _read_frames(input_path: str
                 ) -> Tuple[Iterator[Tuple[str, np.ndarray]], int, Fraction]:
    """Open a video or frame folder; return an iterator of (name, frame)
    pairs, the frame count and the fps. A name is the file of a folder's
    frame, or ``'<video> frame <index>'``, for error messages."""
    if osp.isdir(input_path):
        paths = list_images(input_path)
        if not paths:
            raise FileNotFoundError(f'no images found in the folder {input_path!r}')
        return ((p, _read_folder_frame(p)) for p in paths), len(paths), FOLDER_FPS

    reader = open_video(input_path)
    total = len(reader)
    fps = fps_fraction(reader.fps)

    def frames() -> Iterator[Tuple[str, np.ndarray]]:
        with reader:
            for index, frame in enumerate(reader.iter_frames(READ_CHUNK)):
                yield f'{input_path} frame {index}', frame

    return frames(), total, fps


def _read_folder_frame(path: str) -> np.ndarray:
    try:
        return read_rgb_image(path)
    except FileNotFoundError:
        raise VideoDecodeError(path, 'OpenCV cannot decode this frame (an '
                               'empty or damaged image?); replace it or move '
                               'it out of the folder') from None


def _check_options(options: Dict[str, Any]) -> None:
    unknown = set(options) - set(_DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f'unknown options {sorted(unknown)}; valid options: '
                        f'{sorted(_DEFAULT_OPTIONS)}')
    fps = options.get('fps')
    if fps is not None:
        try:
            valid = not isinstance(fps, bool) and 0 < Fraction(fps) <= 1000
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            valid = False
        if not valid:
            raise ValueError(f'expected the fps option to be a number in '
                             f'(0, 1000] or None, got {fps!r}')


def _check_factor(factor: Any) -> int:
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f'expected an integer factor >= 1, got {factor!r}')
    return int(factor)


@INFERENCERS.register_module()
class InterpolationInferencer:
    """Raise the frame rate of a video by an integer factor.

    Between every two input frames the model predicts ``factor - 1`` frames
    at the timesteps ``1 / factor, ..., (factor - 1) / factor``. The last
    input frame is repeated ``factor - 1`` times, so the output has
    ``factor`` times the frames at ``factor`` times the frame rate and keeps
    the duration. Where a scene cut lies between two frames
    (see :mod:`vidft_interpolation.datasets.scene_cut`) the earlier frame is
    repeated instead of interpolated. Frames of any size are padded to the
    model's size divisor and cropped back. Frames are read, interpolated
    and written one pair at a time, so memory does not grow with the video.

    Args:
        config: Path of a vidft config, or a loaded ``Config``, whose
            ``model`` is an interpolation model.
        checkpoint: Weights to load (a vidft checkpoint or a RIFE v4.6
            ``flownet.pkl``), or None to keep the model's own initialisation
            (the parameter-free baselines need none).
        device: Torch device to run on.
        factor: Default frame-rate factor of :meth:`__call__`.
        **default_options: Defaults for the options of :meth:`__call__`;
            ``vidft infer`` passes the extra keys of the config's
            ``inferencer`` dict here.
    """

    #: ``vidft infer`` rejects a call without ``--out`` before building the model.
    requires_out = True
    #: ``vidft infer`` passes a folder of frames on to this inferencer.
    accepts_frame_folder = True

    @staticmethod
    def check_options(options: Dict[str, Any]) -> None:
        """Raise TypeError or ValueError for constructor options (the keys
        of a config's ``inferencer`` dict) that this class rejects."""
        options = dict(options)
        if 'factor' in options:
            _check_factor(options.pop('factor'))
        try:
            _check_options(options)
        except TypeError as error:
            # The constructor also takes factor, which the call options lack.
            raise TypeError(f'{error} and factor') from None

    def __init__(self, config: Union[str, Config], checkpoint: Optional[str] = None,
                 device: str = 'cpu', factor: int = 2, **default_options: Any) -> None:
        _check_options(default_options)
        self.factor = _check_factor(factor)
        self.default_options = {**_DEFAULT_OPTIONS, **default_options}
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        if 'model' not in cfg:
            raise KeyError(f"expected a 'model' entry in the config {config!r}")
        self.device = torch.device(device)
        self.model = MODELS.build(cfg.model)
        if checkpoint is not None:
            self.load_report = load_interpolation_weights(self.model, checkpoint)
        else:
            self.model.init_weights()
            self.load_report = None
            warn_untrained(self.model)
        self.model.to(self.device).eval()

    def _interpolate(self, frame0: np.ndarray, frame1: np.ndarray, factor: int,
                     max_batch: int) -> np.ndarray:
        pair = torch.from_numpy(np.stack((frame0, frame1))).permute(0, 3, 1, 2)
        pair = pair.to(self.device).float().div_(255.0)
        timesteps = torch.arange(1, factor, dtype=torch.float32, device=self.device) / factor
        outputs = []
        for chunk in timesteps.split(max_batch):
            inputs = pair.unsqueeze(0).expand(len(chunk), -1, -1, -1, -1)
            pred = self.model.predict_frames(inputs, chunk)
            frames = pred.clamp(0, 1).mul(255).round().byte()
            outputs.append(frames.permute(0, 2, 3, 1).cpu().numpy())
        return np.concatenate(outputs)

    def __call__(self, input_path: str, out_path: Optional[str] = None,
                 factor: Optional[int] = None, *, out: Optional[str] = None,
                 **options: Any) -> Dict[str, Any]:
        """Write ``input_path`` with ``factor`` times the frames to ``out_path``.

        ``out`` is another name for ``out_path``, the one ``vidft infer``
        uses; pass exactly one of them. ``factor`` defaults to the one given
        to ``__init__``. The options, with defaults from ``__init__``, are:

        * ``scene_cut_threshold``: grey levels; None disables the check;
        * ``codec``: a PyAV codec, default ``'libx264'``;
        * ``crf``: libx264 quality, lower is better, default 18;
        * ``show_progress``: a tqdm bar on stderr, default True;
        * ``max_batch``: intermediate frames predicted per forward pass,
          default 4, which bounds memory for large factors;
        * ``fps``: input frame rate, overriding the video's (25 for a frame
          folder when unset).

        Returns a summary: input and output frame counts, output fps, the
        pairs interpolated and those repeated at a scene cut.
        """
        _check_options(options)
        settings = {**self.default_options, **options}
        factor = self.factor if factor is None else _check_factor(factor)
        max_batch = settings['max_batch']
        if isinstance(max_batch, bool) or int(max_batch) != max_batch or max_batch < 1:
            raise ValueError(f'expected an integer max_batch >= 1, got {max_batch!r}')
        if (out_path is None) == (out is None):
            raise ValueError(f'expected exactly one output path (out_path or out), got '
                             f'out_path={out_path!r} and out={out!r}; frame '
                             'interpolation always writes a video')
        out_path = out_path if out_path is not None else out

        frames, total, fps = _read_frames(input_path)
        if settings['fps'] is not None:
            fps = fps_fraction(settings['fps'])
        elif osp.isdir(input_path):
            logger.warning('the folder %s stores no frame rate; assuming %s fps. '
                           'Set the fps option (vidft infer: --cfg-options '
                           'inferencer.fps=N) to change it', input_path, fps)
        out_dir = osp.dirname(osp.abspath(out_path))
        os.makedirs(out_dir, exist_ok=True)
        threshold = settings['scene_cut_threshold']
        detector = SceneCutDetector(threshold) if threshold is not None else None

        previous = None
        summary = dict(input_frames=0, output_frames=0, output_fps=float(fps * factor),
                       interpolated_pairs=0, scene_cuts=0)
        progress = tqdm(total=total, unit='frame', disable=not settings['show_progress'])
        try:
            with torch.no_grad(), VideoWriter(out_path, fps * factor, settings['codec'],
                                              settings['crf'], source=input_path) as writer:
                for name, frame in frames:
                    if previous is not None and previous.shape != frame.shape:
                        raise VideoDecodeError(
                            name, f'expected a frame of {_size(previous)} like those '
                            f'before it, got {_size(frame)}; resize it or move it out '
                            'of the input')
                    cut = detector.update(frame) if detector is not None else False
                    if previous is not None:
                        writer.write(previous)
                        if cut:
                            middle = [previous] * (factor - 1)
                            summary['scene_cuts'] += 1
                        elif factor > 1:
                            middle = self._interpolate(previous, frame, factor,
                                                       settings['max_batch'])
                            summary['interpolated_pairs'] += 1
                        else:
                            middle = []
                        for item in middle:
                            writer.write(item)
                        summary['output_frames'] += 1 + len(middle)
                    previous = frame
                    summary['input_frames'] += 1
                    progress.update(1)
                if previous is None:
                    raise VideoDecodeError(input_path, 'no frame decodes; the file is '
                                           'damaged')
                for _ in range(factor):
                    writer.write(previous)
                summary['output_frames'] += factor
        finally:
            progress.close()
        logger.info('wrote %s: %d frames at %.3f fps from %d frames (%d pairs '
                    'interpolated, %d scene cuts repeated)', out_path,
                    summary['output_frames'], summary['output_fps'],
                    summary['input_frames'], summary['interpolated_pairs'],
                    summary['scene_cuts'])
        if _mostly_cuts(summary):
            logger.warning(CUT_WARNING, summary['scene_cuts'], summary['input_frames'] - 1)
        return summary

    @staticmethod
    def format_result(summary: Dict[str, Any]) -> str:
        """Describe the summary of :meth:`__call__`, with a warning line
        when most frame pairs counted as scene cuts."""
        text = (f"{summary['input_frames']} frames in, {summary['output_frames']} frames "
                f"out at {summary['output_fps']:g} fps; {summary['interpolated_pairs']} "
                f"pairs interpolated, {summary['scene_cuts']} scene cuts repeated")
        if _mostly_cuts(summary):
            text += '\nwarning: ' + CUT_WARNING % (summary['scene_cuts'],
                                                  summary['input_frames'] - 1)
        return text


#: Shown when more than half of the frame pairs of a video count as scene
#: cuts, which happens with fast pans over detailed scenes.
CUT_WARNING = ('%d of %d frame pairs counted as scene cuts and were repeated, not '
               'interpolated; if the video has fast motion rather than cuts, raise '
               'inferencer.scene_cut_threshold or set it to None')


def _size(frame: np.ndarray) -> str:
    return f'{frame.shape[1]}x{frame.shape[0]}'


def _mostly_cuts(summary: Dict[str, Any]) -> bool:
    return summary['scene_cuts'] * 2 > max(summary['input_frames'] - 1, 0)
