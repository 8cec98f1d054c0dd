"""Frame folders: one image per frame, ordered by the numbers in the names."""
import os
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple, Union

#: Image suffixes read as frames, compared in lower case.
FRAME_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')

_DIGITS = re.compile(r'(\d+)')


class FrameFolderError(ValueError):
    """A folder of frames that cannot be read as one clip."""


def frame_sort_key(name: str) -> Tuple[Tuple[int, Union[int, str]], ...]:
    """Key that orders ``frame_2.png`` before ``frame_10.png``.

    Runs of digits compare as numbers and the rest as text, so unpadded
    frame numbers keep their order. Names that differ only in zero padding
    (``7.png`` and ``007.png``) then fall back to plain text order, and
    :func:`list_frame_files` rejects them as two files for one frame. Signs
    and decimal points are text: ``t_0.5.png`` comes before ``t_0.25.png``
    (5 < 25), so name frames by integers.
    """
    parts = _DIGITS.split(name)
    key = tuple((0, int(part)) if index % 2 else (1, part)
                for index, part in enumerate(parts))
    return key + ((1, name),)


def list_frame_files(folder: str,
                     extensions: Union[str, Sequence[str]] = FRAME_EXTENSIONS
                     ) -> List[str]:
    """Return the paths of the frames directly in ``folder``, in frame order.

    Frames are the files whose suffix is in ``extensions`` (one suffix or
    several). Their order is :func:`frame_sort_key` on the file name.
    Subfolders, other files and hidden files (a leading ``.``, such as the
    ``._0001.png`` metadata files that macOS leaves on copied folders) are
    left out. An empty list means that the folder contains no frames.

    Raises:
        FrameFolderError: Two files name the same frame: ``frame_3.png`` and
            ``frame_3.jpg``, or ``7.png`` and ``007.png``. Their order would
            be a guess, and the clip would show that frame twice.
    """
    if isinstance(extensions, str):
        extensions = (extensions,)
    suffixes = tuple(e.lower() for e in extensions)
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(suffixes) and not n.startswith('.')
             and osp.isfile(osp.join(folder, n))]
    names.sort(key=frame_sort_key)
    _check_one_file_per_frame(folder, names)
    return [osp.join(folder, n) for n in names]


def _check_one_file_per_frame(folder: str, names: List[str]) -> None:
    """Raise if two of ``names`` have the same frame key."""
    by_key: Dict[tuple, List[str]] = {}
    for name in names:
        key = frame_sort_key(osp.splitext(name)[0].lower())[:-1]
        by_key.setdefault(key, []).append(name)
    clashes = [group for group in by_key.values() if len(group) > 1]
    if clashes:
        first, second = clashes[0][:2]
        raise FrameFolderError(
            f'{osp.join(folder, first)} and {second} name the same frame '
            f'({len(clashes)} frame(s) with more than one file); keep one '
            'file per frame, in one image format')
