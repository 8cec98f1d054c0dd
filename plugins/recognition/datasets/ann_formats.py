"""Annotation formats of :class:`VideoDataset`: detection and parser calls.

Each format maps to a parser of :mod:`vidft.data.annotations`:

============  ================================================================
``list``      mmaction2 video list, ``<path> <label> [<label> ...]`` per line
``csv``       CSV with a header and the columns ``path`` and ``label``
``kinetics``  Kinetics CSV, ``label,youtube_id,time_start,time_end,split``
``folder``    ``ann_file`` is a folder with one subfolder of videos per class
``ucf101``    UCF101 ``trainlist0k.txt`` / ``testlist0k.txt``, with
              ``classInd.txt``
``hmdb51``    ``ann_file`` is the folder of HMDB51's
              ``<class>_test_split<k>.txt`` files
============  ================================================================
"""
import csv
import inspect
import logging
import os
import os.path as osp
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from vidft.data import annotations

logger = logging.getLogger(__name__)

ANN_FORMATS = ('auto', 'list', 'csv', 'kinetics', 'folder', 'ucf101',
               'hmdb51')

_UCF101_SPLIT_FILE = re.compile(r'^(train|test)list\d+\.txt$', re.IGNORECASE)
_HMDB51_SPLIT_FILE = re.compile(r'_test_split\d+\.txt$')
UCF101_CLASS_IND_FILE = 'classInd.txt'


def detect_format(ann_file: str) -> str:
    """Guess the annotation format of ``ann_file`` from its name and header.

    A folder is ``hmdb51`` when it contains ``*_test_split<k>.txt`` files and
    ``folder`` otherwise. A ``.csv`` file is ``kinetics`` when its header has
    ``youtube_id`` and ``csv`` otherwise. ``trainlist0k.txt`` and
    ``testlist0k.txt`` are ``ucf101``. Anything else is ``list``.
    """
    if osp.isdir(ann_file):
        if any(_HMDB51_SPLIT_FILE.search(name) for name in os.listdir(ann_file)):
            return 'hmdb51'
        return 'folder'
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    if ann_file.lower().endswith('.csv'):
        with open(ann_file, encoding='utf-8', newline='') as f:
            header = next(csv.reader(f), [])
        columns = {column.strip() for column in header}
        return 'kinetics' if 'youtube_id' in columns else 'csv'
    if _UCF101_SPLIT_FILE.match(osp.basename(ann_file)):
        return 'ucf101'
    return 'list'


def _parser_calls(ann_file: str, video_prefix: str,
                  classes: Optional[Sequence[str]], subset: str
                  ) -> Dict[str, Tuple[Callable, Dict[str, Any]]]:
    """Return, per format, the parser and the arguments the dataset fills."""
    return {
        'list': (annotations.load_video_list,
                 dict(path=ann_file, data_prefix=video_prefix)),
        'csv': (annotations.load_csv,
                dict(path=ann_file, data_prefix=video_prefix,
                     classes=classes)),
        'kinetics': (annotations.load_kinetics_csv,
                     dict(path=ann_file, data_prefix=video_prefix,
                          classes=classes)),
        'folder': (annotations.load_folder_tree,
                   dict(root=ann_file, classes=classes)),
        'ucf101': (annotations.load_ucf101_split,
                   dict(split_file=ann_file, data_prefix=video_prefix,
                        class_ind_file=osp.join(osp.dirname(ann_file),
                                                UCF101_CLASS_IND_FILE))),
        'hmdb51': (annotations.load_hmdb51_split,
                   dict(split_dir=ann_file, data_prefix=video_prefix,
                        classes=classes, subset=subset)),
    }


def load_annotations(ann_format: str, ann_file: str, video_prefix: str,
                     classes: Optional[Sequence[str]], subset: str,
                     options: Dict[str, Any]) -> List[dict]:
    """Parse ``ann_file`` in ``ann_format`` into sample dicts.

    ``options`` are extra keyword arguments of the format's parser:
    ``class_ind_file`` for ucf101, ``split`` and ``subset`` for hmdb51,
    ``filename_tmpl`` for kinetics and ``extensions`` for folder. They
    override the values that the dataset fills in.

    Raises:
        TypeError: ``options`` has a key that the format's parser does not
            take.
    """
    parser, arguments = _parser_calls(ann_file, video_prefix, classes,
                                      subset)[ann_format]
    accepted = set(inspect.signature(parser).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        choices = sorted(accepted - set(arguments)) or ['none']
        raise TypeError(
            f"ann_options {unknown} are not options of the '{ann_format}' "
            f'format; it takes {choices}')
    arguments.update(options)
    return parser(**arguments)


def derive_classes(ann_format: str, ann_file: str,
                   options: Dict[str, Any]) -> Optional[List[str]]:
    """Return the class names that a format defines by itself, in label
    order, or None for formats whose files carry only class indices.

    ``folder``: the sorted subfolder names. ``hmdb51``: the sorted class
    names of the split files of ``options['split']`` (default 1).
    ``ucf101``: the names of ``classInd.txt`` in index order.
    """
    if ann_format == 'folder':
        return sorted(entry.name for entry in os.scandir(ann_file)
                      if entry.is_dir())
    if ann_format == 'hmdb51':
        split = options.get('split', 1)
        pattern = re.compile(rf'^(?P<name>.+)_test_split{split}\.txt$')
        return sorted(match['name'] for match in map(
            pattern.match, os.listdir(ann_file)) if match)
    if ann_format == 'ucf101':
        class_ind_file = options.get(
            'class_ind_file',
            osp.join(osp.dirname(ann_file), UCF101_CLASS_IND_FILE))
        by_index = {}
        with open(class_ind_file, encoding='utf-8') as f:
            for line in f:
                tokens = line.split()
                if len(tokens) == 2 and tokens[0].isdigit():
                    by_index[int(tokens[0])] = tokens[1]
        return [by_index[index] for index in sorted(by_index)]
    return None
