"""Datasets of labelled video files and of frame folders."""
import logging
import os.path as osp
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from mmengine.logging import print_log

from vidft.data.annotations import load_label_map, load_rawframe_list
from vidft.data.datasets import BaseVideoDataset
from vidft.data.transforms.base import LabelMapError

from ..registry import DATASETS
from .ann_formats import (ANN_FORMATS, derive_classes, detect_format,
                          load_annotations)

Pipeline = Sequence[Union[dict, Callable]]


class _LabelledDataset(BaseVideoDataset):
    """Label map, class names and label checks shared by the datasets here.

    Class names go to ``metainfo['classes']``, where metrics, checkpoints and
    the inferencer read them. They come from ``label_map`` (a file with one
    class name per line, line i naming label i, relative to ``data_root``),
    or else from the annotation format itself when it names classes.
    """

    def __init__(self, *, label_map: Optional[str], num_classes: Optional[int],
                 multi_class: bool, metainfo: Optional[dict],
                 data_root: Optional[str], **kwargs: Any) -> None:
        if label_map and data_root and not osp.isabs(label_map):
            label_map = osp.join(data_root, label_map)
        self.label_map = label_map
        metainfo = dict(metainfo or {})
        if label_map:
            classes = tuple(load_label_map(label_map))
            if num_classes is not None and len(classes) != num_classes:
                raise ValueError(
                    f'expected {num_classes} classes (num_classes), got '
                    f'{len(classes)} in the label map {label_map}; fix one '
                    'of them')
            given = metainfo.get('classes')
            if given is not None and tuple(given) != classes:
                raise ValueError(
                    f"expected metainfo['classes'] to match the label map "
                    f'{label_map}, got different names; set only one of them')
            metainfo['classes'] = classes
        super().__init__(num_classes=num_classes, multi_class=multi_class,
                         metainfo=metainfo, data_root=data_root, **kwargs)

    def _check_labels(self, samples: List[dict]) -> None:
        """Raise ValueError for an annotation file without samples, for a
        label outside the known classes, and for a multi-label sample in a
        single-label dataset."""
        if not samples:
            raise ValueError(
                f'annotation file {self.ann_file} lists no samples; fill it '
                '(one sample per line) or point ann_file at another file')
        classes = self._metainfo.get('classes')
        num_classes = self.num_classes or (len(classes) if classes else None)
        for index, sample in enumerate(samples):
            if 'label' not in sample:
                continue
            labels = sample['label']
            if isinstance(labels, list) and not self.multi_class:
                raise ValueError(
                    f'sample {index} ({self._describe(sample)}) has the '
                    f'labels {labels}; set multi_class=True and num_classes '
                    'for a multi-label dataset')
            for label in labels if isinstance(labels, list) else [labels]:
                if num_classes is not None and not 0 <= label < num_classes:
                    raise ValueError(
                        f'sample {index} ({self._describe(sample)}) has label '
                        f'{label}, expected a class index in [0, '
                        f'{num_classes}); fix the annotation, num_classes or '
                        'the label map')
        if num_classes is not None and not self.multi_class:
            self._check_pipeline_label_maps(num_classes, classes)

    def _check_pipeline_label_maps(self, num_classes: int,
                                   classes: Optional[Sequence[str]]) -> None:
        """Resolve the class names in the label maps of the pipeline's
        transforms (``Flip``'s ``flip_label_map``, ``ReverseFrameOrder``'s
        ``label_map``) to indices, and log the classes that each map turns
        into others.

        A pipeline inherited from another config keeps that config's maps,
        which are wrong for other classes. So a name that is not one of
        ``classes``, and an index outside ``[0, num_classes)``, raise
        :class:`~vidft.data.transforms.base.LabelMapError`.
        """
        def name(index: int) -> str:
            return repr(classes[index]) if classes else str(index)

        for transform in getattr(self.pipeline, 'transforms', []):
            for attribute in ('flip_label_map', 'label_map'):
                mapping = getattr(transform, attribute, None)
                if not isinstance(mapping, dict) or not mapping:
                    continue
                where = f'{type(transform).__name__}.{attribute}'
                mapping = self._resolve_class_names(where, mapping, classes)
                setattr(transform, attribute, mapping)
                for source, target in mapping.items():
                    if not (0 <= source < num_classes
                            and 0 <= target < num_classes):
                        raise LabelMapError(
                            f'{where} maps class {source} to {target}, but '
                            f'{self.ann_file} has {num_classes} classes '
                            f'(0 to {num_classes - 1}). A label map belongs '
                            'to the classes it was written for: remove it '
                            'from the pipeline (an inherited pipeline keeps '
                            'the maps of its config), or rewrite it for these '
                            'classes')
                turns = ', '.join(f'{name(source)} into {name(target)}'
                                  for source, target in mapping.items())
                print_log(f'{self.ann_file}: {where} turns {turns}',
                          logger='current', level=logging.INFO)

    def _resolve_class_names(self, where: str, mapping: Dict[Any, Any],
                             classes: Optional[Sequence[str]]
                             ) -> Dict[int, int]:
        names = [key for pair in mapping.items() for key in pair
                 if isinstance(key, str)]
        if not names:
            return mapping
        if not classes:
            raise LabelMapError(
                f'{where} names classes ({names[0]!r}), but {self.ann_file} '
                'has no class names to find them in; give the dataset '
                'label_map=FILE (one class name per line), or write the map '
                'with class indices')
        index = {name: i for i, name in enumerate(classes)}
        unknown = [name for name in names if name not in index]
        if unknown:
            raise LabelMapError(
                f'{where} names the class {unknown[0]!r}, which is not a '
                f'class of {self.ann_file} (classes: {list(classes)}). A '
                'label map belongs to the classes it was written for: remove '
                'it from the pipeline (an inherited pipeline keeps the maps '
                'of its config), or rewrite it for these classes')
        return {index.get(source, source): index.get(target, target)
                for source, target in mapping.items()}

    @staticmethod
    def _describe(sample: dict) -> str:
        return str(sample.get('filename') or sample.get('frame_dir'))


@DATASETS.register_module()
class VideoDataset(_LabelledDataset):
    """Video files with class labels, from one of several annotation formats.

    Args:
        ann_file: Annotation file, relative to ``data_root``; for the
            ``folder`` and ``hmdb51`` formats, a folder.
        pipeline: Transforms, normally starting with ``VideoInit``,
            ``SampleFrames`` and ``VideoDecode``.
        data_prefix: Folder the video paths of the annotations are relative
            to, as a string or ``dict(video=...)``; relative to
            ``data_root``. Must be empty for ``folder``, whose paths are
            found under ``ann_file``.
        ann_format: One of ``'list'``, ``'csv'``, ``'kinetics'``,
            ``'folder'``, ``'ucf101'``, ``'hmdb51'`` (see
            :mod:`vidft_recognition.datasets.ann_formats`), or ``'auto'`` to
            detect it from ``ann_file`` (logged).
        label_map: File of class names, one per line. ``csv``,
            ``kinetics``, ``folder`` and ``hmdb51`` map class names to
            indices with it; every format takes the names for
            ``metainfo['classes']`` from it.
        num_classes: Number of classes; labels must lie in
            ``[0, num_classes)``. Required with ``multi_class``.
        multi_class: Labels are lists of class indices, turned into one-hot
            vectors of ``num_classes``.
        ann_options: Extra keyword arguments of the format's parser:
            ``class_ind_file`` (ucf101; default ``classInd.txt`` next to
            ``ann_file``), ``split`` (hmdb51; default 1), ``subset``
            (hmdb51; default ``'test'`` in test mode, else ``'train'``),
            ``filename_tmpl`` (kinetics), ``extensions`` (folder).
        **kwargs: Passed to :class:`~vidft.data.datasets.BaseVideoDataset`
            (``data_root``, ``test_mode``, ``on_bad_sample``, ...).
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Pipeline,
                 data_prefix: Union[str, Dict[str, str], None] = None,
                 ann_format: str = 'auto',
                 label_map: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 multi_class: bool = False,
                 ann_options: Optional[Dict[str, Any]] = None,
                 data_root: Optional[str] = '',
                 metainfo: Optional[dict] = None,
                 **kwargs: Any) -> None:
        if ann_format not in ANN_FORMATS:
            raise ValueError(f'expected ann_format in {ANN_FORMATS}, got '
                             f'{ann_format!r}')
        if isinstance(data_prefix, str) or data_prefix is None:
            data_prefix = dict(video=data_prefix or '')
        if ann_format == 'folder' and data_prefix.get('video'):
            raise ValueError(
                f"expected no data_prefix with ann_format='folder', got "
                f"{data_prefix['video']!r}; the videos are found in the class "
                'folders under ann_file, so point ann_file at their parent')
        self.ann_format = ann_format
        self.ann_options = dict(ann_options or {})
        super().__init__(ann_file=ann_file, pipeline=pipeline,
                         data_prefix=data_prefix, label_map=label_map,
                         num_classes=num_classes, multi_class=multi_class,
                         data_root=data_root, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the annotations and check every label."""
        ann_format = self.ann_format
        if ann_format == 'auto':
            ann_format = detect_format(self.ann_file)
            print_log(f"{self.ann_file}: detected ann_format='{ann_format}'",
                      logger='current', level=logging.INFO)

        classes = self._metainfo.get('classes')
        if classes is None:
            derived = derive_classes(ann_format, self.ann_file,
                                     self.ann_options)
            if derived is not None:
                self._metainfo['classes'] = tuple(derived)
                classes = derived
        subset = 'test' if self.test_mode else 'train'
        # mmengine joins data_root into every prefix, even an empty one, but
        # the folder format finds its videos under ann_file.
        video_prefix = '' if ann_format == 'folder' else self.data_prefix.get(
            'video', '')
        samples = load_annotations(ann_format, self.ann_file, video_prefix,
                                   classes, subset, self.ann_options)
        self._check_labels(samples)
        return samples


@DATASETS.register_module()
class RawframeDataset(_LabelledDataset):
    """Videos stored as folders of frame images, from an mmaction2 rawframe
    list: ``<frame_dir> <total_frames> <label> [<label> ...]`` per line.

    Frames are named ``img_00001.jpg``, ``img_00002.jpg``, ... inside each
    folder by default, so ``start_index`` is 1. The file name pattern is set
    on the ``RawFrameDecode`` transform of the pipeline.

    Args:
        ann_file: The rawframe list, relative to ``data_root``.
        pipeline: Transforms, normally ``SampleFrames`` followed by
            ``RawFrameDecode``.
        data_prefix: Folder the frame folders of the list are relative to,
            as a string or ``dict(img=...)``; relative to ``data_root``.
        with_offset: Lines carry a first-frame index before the frame count:
            ``<frame_dir> <start_index> <total_frames> <label>``.
        start_index: Index of the first frame file of every folder, for
            lines without an offset.
        label_map: File of class names, one per line, for
            ``metainfo['classes']``.
        num_classes: Number of classes; labels must lie in
            ``[0, num_classes)``. Required with ``multi_class``.
        multi_class: Labels are lists of class indices, turned into one-hot
            vectors of ``num_classes``.
        **kwargs: Passed to :class:`~vidft.data.datasets.BaseVideoDataset`.
    """

    def __init__(self,
                 ann_file: str,
                 pipeline: Pipeline,
                 data_prefix: Union[str, Dict[str, str], None] = None,
                 with_offset: bool = False,
                 start_index: int = 1,
                 label_map: Optional[str] = None,
                 num_classes: Optional[int] = None,
                 multi_class: bool = False,
                 data_root: Optional[str] = '',
                 metainfo: Optional[dict] = None,
                 **kwargs: Any) -> None:
        if isinstance(data_prefix, str) or data_prefix is None:
            data_prefix = dict(img=data_prefix or '')
        if set(data_prefix) - {'img'}:
            raise ValueError(f"expected data_prefix as a string or "
                             f"dict(img=...), got {data_prefix!r}")
        self.with_offset = with_offset
        super().__init__(ann_file=ann_file, pipeline=pipeline,
                         data_prefix=data_prefix, start_index=start_index,
                         label_map=label_map, num_classes=num_classes,
                         multi_class=multi_class, data_root=data_root,
                         metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the rawframe list and check every label."""
        prefix = self.data_prefix.get('img', '')
        samples = load_rawframe_list(self.ann_file, prefix,
                                     with_offset=self.with_offset)
        self._check_labels(samples)
        return samples
