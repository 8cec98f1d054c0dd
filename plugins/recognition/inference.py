"""Run a trained recognition model on a video file.

:class:`RecognitionInferencer` builds the model of a config, loads a
checkpoint, samples the video as the config's test pipeline does and returns
the top classes with their scores. With an output path it also writes the
video with the predicted label drawn on every frame, at the input's frame
rate. ``vidft infer`` finds it through the INFERENCERS registry as
``recognition.RecognitionInferencer``.
"""
import copy
import logging
import os.path as osp
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import av
import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from vidft.data.video import OUTPUT_FORMATS, VideoWriter, fps_fraction
from vidft.registry import MODELS, TRANSFORMS

from .registry import INFERENCERS

logger = logging.getLogger(__name__)


# Number of classes returned and printed by default.
DEFAULT_TOPK = 5

# Transforms that read frames from a folder of images; a video input needs
# the video reader instead.
RAWFRAME_TRANSFORMS = ('RawFrameDecode', )
VIDEO_INIT = 'VideoInit'
VIDEO_DECODE = 'VideoDecode'

@dataclass
class RecognitionResult:
    """Prediction for one video: the top classes, best first."""

    video: str
    labels: List[int]
    class_names: List[str]
    scores: List[float]
    num_classes: int
    output: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def top(self) -> List[Tuple[int, str, float]]:
        """Return ``(label, class name, score)`` tuples, best first."""
        return list(zip(self.labels, self.class_names, self.scores))


def _type_name(transform: Dict[str, Any]) -> str:
    """Return a transform's type without its scope prefix."""
    name = transform.get('type', '')
    return name.rsplit('.', 1)[-1] if isinstance(name, str) else ''


def video_test_pipeline(cfg: Config) -> List[Dict[str, Any]]:
    """Return the config's test pipeline, adapted to read one video file.

    The pipeline of ``test_dataloader`` is used, else that of
    ``val_dataloader``. A rawframe pipeline has its ``RawFrameDecode``
    replaced by ``VideoDecode``, and ``VideoInit`` is put first when the
    pipeline does not open the video itself.
    """
    pipeline = None
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        # Dataset wrappers (RepeatDataset, ...) nest the real dataset.
        while isinstance(dataset, dict) and 'pipeline' not in dataset:
            dataset = dataset.get('dataset')
        if isinstance(dataset, dict) and dataset.get('pipeline'):
            pipeline = copy.deepcopy(list(dataset['pipeline']))
            break
    if pipeline is None:
        raise ValueError(
            'expected a test pipeline in test_dataloader.dataset.pipeline or '
            'val_dataloader.dataset.pipeline, got neither; add the test '
            'pipeline of the model to the config')

    names = [_type_name(t) for t in pipeline]
    for index, name in enumerate(names):
        if name in RAWFRAME_TRANSFORMS:
            pipeline[index] = dict(type=VIDEO_DECODE)
            names[index] = VIDEO_DECODE
    if VIDEO_INIT not in names:
        pipeline.insert(0, dict(type=VIDEO_INIT))
    return pipeline


def class_names_from(checkpoint: Dict[str, Any], cfg: Config
                     ) -> Optional[List[str]]:
    """Find class names in the checkpoint's ``meta`` or the config.

    mmengine's Runner saves the training dataset's metainfo in
    ``meta['dataset_meta']``; a config may set ``metainfo.classes`` on its
    test dataset.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    classes = ((meta or {}).get('dataset_meta') or {}).get('classes')
    if classes:
        return [str(name) for name in classes]
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset') or {}
        classes = (dataset.get('metainfo') or {}).get('classes')
        if classes:
            return [str(name) for name in classes]
    return None


@INFERENCERS.register_module()
class RecognitionInferencer:
    """Predict the class of a video with a trained recognition model.

    Args:
        config: A config file path or a loaded :class:`mmengine.Config`.
            Its ``model`` is built, and its test (or validation) pipeline
            samples the frames.
        checkpoint: A checkpoint saved by the Runner or a state-dict file
            (``.pth`` or ``.safetensors``). Loaded strictly: every key must
            match the model. None keeps the initial weights, which is useful
            only to check the input and output path.
        device: Torch device to run the model on, e.g. ``'cpu'``,
            ``'cuda'`` or ``'cuda:1'``.
        topk: Number of classes returned, best first.
        class_names: Names of the classes in label order. By default they
            come from the checkpoint's ``meta['dataset_meta']['classes']``,
            then from ``metainfo.classes`` of the config's test dataset,
            and are ``class_<label>`` otherwise.
        trust_checkpoint: Load a pickled checkpoint with
            ``weights_only=False``. That runs code stored in the file, so set
            it only for files you created yourself.
    """

    task = 'recognition'

    def __init__(self,
                 config: Union[str, Config],
                 checkpoint: Optional[str] = None,
                 device: str = 'cpu',
                 *,
                 topk: int = DEFAULT_TOPK,
                 class_names: Optional[Sequence[str]] = None,
                 trust_checkpoint: bool = False) -> None:
        if isinstance(config, str):
            from vidft.config import load_config
            config = load_config(config)
        if not isinstance(topk, int) or topk < 1:
            raise ValueError(f'expected topk to be a positive int, got '
                             f'{topk!r}')
        self.cfg = config
        self.topk = topk
        self.device = torch.device(device)
        scope = config.get('default_scope', 'vidft')

        with DefaultScope.overwrite_default_scope(scope):
            self.model = MODELS.build(copy.deepcopy(config.model))
            self.pipeline = Compose([
                TRANSFORMS.build(t) for t in video_test_pipeline(config)
            ])
        checkpoint_dict = (self._load_checkpoint(checkpoint,
                                                 trust_checkpoint)
                           if checkpoint else {})
        if not checkpoint:
            from vidft.models import warn_untrained
            warn_untrained(self.model)
        self.model.to(self.device)
        self.model.eval()

        self.class_names = (list(class_names) if class_names is not None
                            else class_names_from(checkpoint_dict, config))
        if self.class_names is None:
            logger.warning(
                'no class names in the checkpoint or the config; labels are '
                'shown as class_<label>. To name them, add inferencer = '
                "dict(type='recognition.RecognitionInferencer', "
                'class_names=[...]) to the config, or metainfo=dict('
                'classes=[...]) to its test dataset')

    def _load_checkpoint(self, path: str, trust: bool) -> Dict[str, Any]:
        if path.endswith('.safetensors'):
            from vidft.finetune import load_state_dict_file
            checkpoint: Any = {'state_dict': load_state_dict_file(path)}
        else:
            from vidft.engine.checkpoint import safe_load
            checkpoint = safe_load(path, trust=trust)
        state_dict = checkpoint.get('state_dict', checkpoint) if isinstance(
            checkpoint, dict) else None
        if not isinstance(state_dict, dict) or not state_dict:
            raise ValueError(f'expected {path} to contain a state dict, got '
                             f'{type(state_dict).__name__}')

        result = self.model.load_state_dict(state_dict, strict=False)
        if result.missing_keys or result.unexpected_keys:
            from vidft.finetune import CheckpointMismatchError
            raise CheckpointMismatchError(
                f'checkpoint {path} does not match the model of the config: '
                f'{len(result.missing_keys)} missing keys (e.g. '
                f'{result.missing_keys[:3]}), {len(result.unexpected_keys)} '
                f'unexpected keys (e.g. {result.unexpected_keys[:3]}). Use '
                'the config the checkpoint was trained with')
        logger.info('loaded %d tensors from %s', len(state_dict), path)
        return checkpoint

    def class_name(self, label: int) -> str:
        """Return the name of class ``label``."""
        if self.class_names is not None and label < len(self.class_names):
            return self.class_names[label]
        return f'class_{label}'

    @torch.no_grad()
    def predict(self, video: str) -> RecognitionResult:
        """Sample ``video`` with the test pipeline and classify it."""
        if not osp.isfile(video):
            raise FileNotFoundError(f'input video not found: {video}')
        sample = self.pipeline(dict(filename=video, start_index=0))
        outputs = self.model.test_step(pseudo_collate([sample]))
        scores = outputs[0].pred_score.detach().float().cpu()
        if scores.ndim != 1:
            raise ValueError(f'expected pred_score of shape (num_classes,), '
                             f'got {tuple(scores.shape)}')
        num_classes = scores.shape[0]
        if self.class_names is not None and len(
                self.class_names) != num_classes:
            raise ValueError(
                f'expected {num_classes} class names to match the model '
                f'output, got {len(self.class_names)}; pass the class names '
                'the model was trained with')

        # Stable sort: equal scores keep the lower label first, as the
        # accuracy metrics rank them.
        order = np.argsort(-scores.numpy(), kind='stable')
        top = order[:min(self.topk, num_classes)].tolist()
        return RecognitionResult(
            video=video,
            labels=top,
            class_names=[self.class_name(i) for i in top],
            scores=[float(scores[i]) for i in top],
            num_classes=num_classes)

    def __call__(self, video: str, out: Optional[str] = None
                 ) -> RecognitionResult:
        """Classify ``video``; with ``out``, also write the labelled video."""
        result = self.predict(video)
        if out is not None:
            lines = [f'{name}: {score:.2f}' for _, name, score in
                     result.top()[:3]]
            write_labelled_video(video, out, lines)
            result.output = out
        return result

    @staticmethod
    def format_result(result: RecognitionResult) -> str:
        """Format the top classes of ``result`` as a table."""
        width = max([len('class')] + [len(n) for n in result.class_names])
        lines = [f'{result.video}: top {len(result.labels)} of '
                 f'{result.num_classes} classes',
                 f"{'rank':>4}  {'label':>5}  {'class':<{width}}  score",
                 ]
        for rank, (label, name, score) in enumerate(result.top(), start=1):
            lines.append(f'{rank:>4}  {label:>5}  {name:<{width}}  '
                         f'{score:.4f}')
        if result.output:
            lines.append(f'labelled video written to {result.output}')
        return '\n'.join(lines)


# ------------------------------------------------------------ video output --


def draw_label(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw ``lines`` of text on a dark box in the top-left corner of an RGB
    frame, in place; the text size follows the frame height."""
    height = frame.shape[0]
    scale = max(0.35, height / 720)
    thickness = max(1, round(2 * scale))
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(text, font, scale, thickness) for text in lines]
    line_height = max(h + baseline for (_, h), baseline in sizes) + 4
    margin = max(2, round(6 * scale))
    box_width = max(w for (w, _), _ in sizes) + 2 * margin
    box_height = line_height * len(lines) + margin

    # Darken the box area instead of painting it black, so the scene shows.
    box = frame[:box_height, :box_width]
    box[...] = (box * 0.35).astype(frame.dtype)
    for index, text in enumerate(lines):
        origin = (margin, margin + line_height * (index + 1) - 6)
        colour = (255, 255, 0) if index == 0 else (255, 255, 255)
        cv2.putText(frame, text, origin, font, scale, colour, thickness,
                    cv2.LINE_AA)
    return frame


def write_labelled_video(video: str, out: str, lines: Sequence[str]) -> int:
    """Copy ``video`` to ``out`` with ``lines`` drawn on every frame.

    Frames stream from decoder to encoder one at a time, so memory does not
    grow with the video length. The output has the input's average frame
    rate and frame count, H.264 (libx264) when available, else MPEG-4 Part 2.
    Returns the number of frames written.

    NOTE: yuv420p needs even sides, so a frame with an odd width or height
    gets one replicated column or row. The audio track is not copied.
    """
    extension = osp.splitext(out)[1].lower()
    if extension not in OUTPUT_FORMATS:
        raise ValueError(f'expected an output file ending in one of '
                         f'{sorted(OUTPUT_FORMATS)}, got {out!r}')
    if osp.abspath(out) == osp.abspath(video):
        raise ValueError(f'expected an output path other than the input, got '
                         f'{out!r} for both')
    codec = 'libx264' if 'libx264' in av.codecs_available else 'mpeg4'
    with av.open(video) as source:
        in_stream = source.streams.video[0]
        rate = fps_fraction(in_stream.average_rate or in_stream.guessed_rate
                            or 25)
        with VideoWriter(out, rate, codec, crf=20, source=video) as target:
            for frame in source.decode(in_stream):
                rgb = _pad_to_even(frame.to_ndarray(format='rgb24'))
                target.write(draw_label(rgb, lines))
            if target.frames_written == 0:
                raise ValueError(f'expected frames in {video}, got none')
    written = target.frames_written
    logger.info('wrote %d labelled frames to %s at %s fps', written, out,
                rate)
    return written


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    pad_bottom = frame.shape[0] % 2
    pad_right = frame.shape[1] % 2
    if pad_bottom or pad_right:
        frame = np.pad(frame, ((0, pad_bottom), (0, pad_right), (0, 0)),
                       mode='edge')
    return np.ascontiguousarray(frame)
