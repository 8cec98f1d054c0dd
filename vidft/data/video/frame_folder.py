"""Frame folders: one image per frame, ordered by the numbers in the names."""
import os
import os.path as osp
import re
from typing import List, Sequence, Tuple, Union

#: Image suffixes read as frames, compared in lower case.
FRAME_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp')

_DIGITS = re.compile(r'(\d+)')


def frame_sort_key(name: str) -> Tuple[Tuple[int, Union[int, str]], ...]:
    """Key that orders ``frame_2.png`` before ``frame_10.png``.

    Runs of digits compare as numbers and the rest as text, so unpadded
    frame numbers keep their order. Names that differ only in zero padding
    (``7.png`` and ``007.png``) then fall back to plain text order. Signs
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
    """
    if isinstance(extensions, str):
        extensions = (extensions,)
    suffixes = tuple(e.lower() for e in extensions)
    names = [n for n in os.listdir(folder)
             if n.lower().endswith(suffixes) and not n.startswith('.')
             and osp.isfile(osp.join(folder, n))]
    return [osp.join(folder, n) for n in sorted(names, key=frame_sort_key)]
