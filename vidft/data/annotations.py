"""Parsers for the annotation formats of common video datasets.

Every parser returns a list of sample dicts: ``filename`` (or ``frame_dir``
and ``total_frames`` for frame folders) joined to ``data_prefix``, and
``label``, an int or, for multi-label lists, a list of ints. Labels are
0-based class indices. Blank lines are skipped. Errors are
:class:`AnnotationError` and name the file and the 1-based line.
"""
import csv
import logging
import os
import os.path as osp
import re
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

logger = logging.getLogger(__name__)

#: File extensions :func:`load_folder_tree` takes as videos (lower case).
VIDEO_EXTENSIONS = ('.avi', '.mp4', '.mkv', '.webm', '.mov', '.m4v', '.mpg',
                    '.mpeg', '.flv', '.wmv', '.3gp')

Label = Union[int, List[int]]


class AnnotationError(ValueError):
    """An annotation file that cannot be parsed, at ``path`` and ``line``
    (1-based, ``None`` for the whole file)."""

    def __init__(self, path: str, line: Optional[int], message: str) -> None:
        where = path if line is None else f'{path}, line {line}'
        super().__init__(f'{where}: {message}')
        self.path = path
        self.line = line


def _join(prefix: str, name: str) -> str:
    return osp.join(prefix, name) if prefix else name


def _lines(path: str) -> Iterator[Tuple[int, str]]:
    """Yield ``(line number, stripped line)`` for the non-blank lines."""
    try:
        with open(path, encoding='utf-8') as f:
            for number, line in enumerate(f, start=1):
                line = line.strip()
                if line:
                    yield number, line
    except OSError as error:
        raise AnnotationError(path, None, f'cannot read the file '
                              f'({error.strerror})') from error


def _parse_int(text: str, field: str, path: str, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise AnnotationError(path, line, f'expected {field} as an integer, '
                              f'got {text!r}') from None


def _parse_labels(tokens: Sequence[str], path: str, line: int) -> Label:
    if not tokens:
        raise AnnotationError(path, line, 'expected at least one label after '
                              'the path, got none')
    labels = [_parse_int(t, 'a class index', path, line) for t in tokens]
    if min(labels) < 0:
        raise AnnotationError(path, line, f'expected class indices >= 0, got '
                              f'{labels}')
    return labels[0] if len(labels) == 1 else labels


def load_label_map(path: str) -> List[str]:
    """Load class names, one per line; class ``i`` is on the ``i``-th
    non-blank line."""
    classes: List[str] = []
    first_line: Dict[str, int] = {}
    for number, name in _lines(path):
        if name in first_line:
            raise AnnotationError(path, number, f'class {name!r} is already '
                                  f'on line {first_line[name]}')
        first_line[name] = number
        classes.append(name)
    if not classes:
        raise AnnotationError(path, None, 'expected one class name per line, '
                              'got an empty file')
    return classes


def load_video_list(path: str, data_prefix: str = '') -> List[dict]:
    """Load an mmaction2 video list: ``<path> <label> [<label> ...]`` per
    line, whitespace-separated; several labels make a multi-label sample."""
    samples = []
    for number, line in _lines(path):
        tokens = line.split()
        samples.append(dict(filename=_join(data_prefix, tokens[0]),
                            label=_parse_labels(tokens[1:], path, number)))
    return samples


def load_rawframe_list(path: str, data_prefix: str = '',
                       with_offset: bool = False) -> List[dict]:
    """Load an mmaction2 rawframe list: ``<frame_dir> <total_frames> <label>
    [<label> ...]`` per line, or with ``with_offset=True``, ``<frame_dir>
    <start_index> <total_frames> <label> ...`` (``start_index`` is then part
    of each sample)."""
    samples = []
    counts = 2 if with_offset else 1
    for number, line in _lines(path):
        tokens = line.split()
        if len(tokens) < 2 + counts:
            layout = ('<frame_dir> <start_index> <total_frames> <label>'
                      if with_offset else '<frame_dir> <total_frames> <label>')
            raise AnnotationError(path, number, f'expected {layout}, got '
                                  f'{line!r}')
        sample = dict(frame_dir=_join(data_prefix, tokens[0]))
        if with_offset:
            sample['start_index'] = _parse_int(tokens[1], 'start_index', path,
                                               number)
        total = _parse_int(tokens[counts], 'total_frames', path, number)
        if total < 1:
            raise AnnotationError(path, number, f'expected total_frames >= '
                                  f'1, got {total}')
        sample['total_frames'] = total
        sample['label'] = _parse_labels(tokens[counts + 1:], path, number)
        samples.append(sample)
    return samples


def _class_index(name: str, classes: Optional[Dict[str, int]], path: str,
                 line: int) -> int:
    """Return the label of a CSV label field: an integer, or a class name
    looked up in ``classes``."""
    try:
        return int(name)
    except ValueError:
        pass
    if classes is None:
        raise AnnotationError(path, line, f'label {name!r} is not an integer;'
                              ' pass classes (for example from '
                              'load_label_map) to map class names')
    if name not in classes:
        raise AnnotationError(path, line, f'class {name!r} is not in the '
                              f'{len(classes)} known classes; add it to the '
                              'label map')
    return classes[name]


def _read_csv(path: str,
              required: Sequence[str]) -> Iterator[Tuple[int, dict]]:
    try:
        with open(path, encoding='utf-8', newline='') as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in columns]
            if missing:
                raise AnnotationError(path, 1, f'expected a header with the '
                                      f'columns {list(required)}, got '
                                      f'{columns}; missing {missing}')
            reader.fieldnames = columns
            for row in reader:
                if any((value or '').strip() for value in row.values()):
                    yield reader.line_num, {
                        key: (value or '').strip()
                        for key, value in row.items() if key is not None
                    }
    except OSError as error:
        raise AnnotationError(path, None, f'cannot read the file '
                              f'({error.strerror})') from error


def load_csv(path: str, data_prefix: str = '',
             classes: Optional[Sequence[str]] = None) -> List[dict]:
    """Load a CSV file with a header row and the columns ``path`` and
    ``label`` (other columns are ignored). A label is a class index, or a
    class name looked up in ``classes``."""
    class_index = ({name: i for i, name in enumerate(classes)}
                   if classes is not None else None)
    samples = []
    for number, row in _read_csv(path, ('path', 'label')):
        if not row['path']:
            raise AnnotationError(path, number, 'expected a video path, got '
                                  'an empty field')
        samples.append(dict(
            filename=_join(data_prefix, row['path']),
            label=_class_index(row['label'], class_index, path, number)))
    return samples


KINETICS_FILENAME_TMPL = '{youtube_id}_{time_start:06d}_{time_end:06d}.mp4'


def load_kinetics_csv(path: str, data_prefix: str = '',
                      classes: Optional[Sequence[str]] = None,
                      filename_tmpl: str = KINETICS_FILENAME_TMPL
                      ) -> List[dict]:
    """Load a Kinetics CSV (``label,youtube_id,time_start,time_end,split``).

    The file name of a clip is ``filename_tmpl`` formatted with the row's
    ``youtube_id``, ``label``, ``split`` and integer ``time_start`` and
    ``time_end``. The default, ``<youtube_id>_<start:06d>_<end:06d>.mp4``, is
    how mmaction2's download scripts name the clips; write
    ``'{label}/{youtube_id}_...'`` for class folders.

    Labels map through ``classes`` (e.g. from :func:`load_label_map`).
    Without it, the classes are the sorted label names of this file, which
    differ between splits when a class is missing from one: pass a label map
    for training. Rows of a test CSV without a ``label`` column have no
    ``label`` key.
    """
    rows = list(_read_csv(path, ('youtube_id', 'time_start', 'time_end')))
    labelled = bool(rows) and 'label' in rows[0][1]
    if labelled and classes is None:
        classes = sorted({row['label'] for _, row in rows})
        logger.info('%s: no class list given, so the %d label names of this '
                    'file were sorted into class indices', path, len(classes))
    class_index = ({name: i for i, name in enumerate(classes)}
                   if classes is not None else None)

    samples = []
    for number, row in rows:
        fields = dict(row)
        for key in ('time_start', 'time_end'):
            try:
                fields[key] = int(float(row[key]))
            except ValueError:
                raise AnnotationError(path, number, f'expected {key} in '
                                      f'seconds, got {row[key]!r}') from None
        sample = dict(filename=_join(data_prefix,
                                     filename_tmpl.format(**fields)))
        if labelled:
            if row['label'] not in class_index:
                raise AnnotationError(path, number, f'class {row["label"]!r} '
                                      'is not in the label map')
            sample['label'] = class_index[row['label']]
        samples.append(sample)
    return samples


def load_folder_tree(root: str,
                     extensions: Sequence[str] = VIDEO_EXTENSIONS,
                     classes: Optional[Sequence[str]] = None) -> List[dict]:
    """Load ``root/<class>/.../<video>``: one folder per class.

    Class indices follow ``classes`` when given (other folders are skipped),
    else the sorted folder names. Videos are the files whose extension, in
    lower case, is in ``extensions``; samples are sorted by path.

    With ``classes`` given, a class without a folder is logged: a split may
    lack a rare class. When the root also has folders that are not classes,
    the names are more likely misspelt, and :class:`AnnotationError` names
    both lists.
    """
    if not osp.isdir(root):
        raise AnnotationError(root, None, 'expected a folder with one '
                              'subfolder per class, got no such folder')
    folders = sorted(entry.name for entry in os.scandir(root)
                     if entry.is_dir())
    if classes is None:
        classes = folders
    missing = [name for name in classes if name not in folders]
    extra = [name for name in folders if name not in classes]
    if missing and extra:
        raise AnnotationError(
            root, None, f'the classes {missing} have no folder, and the '
            f'folders {extra} are no class; fix the names in the label map '
            'or the folder names')
    suffixes = tuple(e.lower() for e in extensions)
    samples = []
    for label, name in enumerate(classes):
        folder = osp.join(root, name)
        if name in missing:
            logger.warning('%s: class %r has no folder, so this split has '
                           'no sample of it', root, name)
            continue
        found = sorted(
            osp.join(directory, file)
            for directory, _, files in os.walk(folder)
            for file in files if file.lower().endswith(suffixes))
        if not found:
            logger.warning('%s: class %r has no video file', folder, name)
        samples.extend(dict(filename=path, label=label) for path in found)
    if not samples:
        raise AnnotationError(root, None, f'found no file with the '
                              f'extensions {list(suffixes)} in any class '
                              'folder')
    return samples


def load_ucf101_split(split_file: str, class_ind_file: str,
                      data_prefix: str = '') -> List[dict]:
    """Load a UCF101 split list (``trainlist01.txt`` or ``testlist01.txt``)
    with its ``classInd.txt``.

    ``classInd.txt`` lines are ``<1-based index> <class>``. Train lists give
    ``<class>/<video>.avi <1-based index>``; test lists give only the path,
    whose folder names the class. A train-list index must agree with the
    folder.
    """
    classes: Dict[str, int] = {}
    for number, line in _lines(class_ind_file):
        tokens = line.split()
        if len(tokens) != 2:
            raise AnnotationError(class_ind_file, number, f'expected '
                                  f'"<index> <class>", got {line!r}')
        index = _parse_int(tokens[0], 'the class index', class_ind_file,
                           number)
        classes[tokens[1]] = index - 1
    by_lower_name = {name.lower(): index for name, index in classes.items()}

    samples = []
    for number, line in _lines(split_file):
        tokens = line.split()
        folder = tokens[0].replace('\\', '/').split('/')[0]
        label = classes.get(folder, by_lower_name.get(folder.lower()))
        if label is None:
            raise AnnotationError(split_file, number, f'the folder {folder!r}'
                                  f' is not a class of {class_ind_file}')
        if len(tokens) > 1:
            listed = _parse_int(tokens[1], 'the class index', split_file,
                                number) - 1
            if listed != label:
                raise AnnotationError(split_file, number, f'class index '
                                      f'{listed + 1} disagrees with the '
                                      f'folder {folder!r} (index {label + 1} '
                                      f'in {class_ind_file})')
        samples.append(dict(filename=_join(data_prefix, tokens[0]),
                            label=label))
    return samples


_HMDB51_SPLIT_FILE = re.compile(
    r'^(?P<name>.+)_test_split(?P<split>\d+)\.txt$')
HMDB51_SUBSETS = {'train': 1, 'test': 2}


def load_hmdb51_split(split_dir: str, split: int = 1, subset: str = 'train',
                      data_prefix: str = '',
                      classes: Optional[Sequence[str]] = None) -> List[dict]:
    """Load one HMDB51 split from the files ``<class>_test_split<k>.txt``.

    Each line is ``<video>.avi <marker>``: 1 for training, 2 for testing, 0
    for unused. The file name of a sample is ``<class>/<video>.avi``. Class
    indices follow ``classes`` when given, else the sorted class names.
    """
    if subset not in HMDB51_SUBSETS:
        raise ValueError(f'expected subset in {sorted(HMDB51_SUBSETS)}, got '
                         f'{subset!r}')
    try:
        names = os.listdir(split_dir)
    except OSError as error:
        raise AnnotationError(split_dir, None, f'cannot list the split '
                              f'files ({error.strerror})') from error
    files = {}
    for name in names:
        match = _HMDB51_SPLIT_FILE.match(name)
        if match and int(match['split']) == split:
            files[match['name']] = osp.join(split_dir, name)
    if not files:
        raise AnnotationError(split_dir, None, f'found no file named '
                              f'<class>_test_split{split}.txt')
    if classes is None:
        classes = sorted(files)
    missing = sorted(set(classes) - set(files))
    if missing:
        raise AnnotationError(split_dir, None, f'classes {missing[:5]} have '
                              f'no <class>_test_split{split}.txt')

    marker = HMDB51_SUBSETS[subset]
    samples = []
    for label, name in enumerate(classes):
        for number, line in _lines(files[name]):
            tokens = line.split()
            if len(tokens) != 2 or tokens[1] not in ('0', '1', '2'):
                raise AnnotationError(files[name], number, f'expected '
                                      f'"<video> <0|1|2>", got {line!r}')
            if int(tokens[1]) == marker:
                samples.append(dict(
                    filename=_join(data_prefix, f'{name}/{tokens[0]}'),
                    label=label))
    return samples
