"""REDS (Nah et al., CVPRW 2019) in its released folder layout."""
import os
import os.path as osp
import re
from typing import Dict, List, Optional

from ..registry import DATASETS
from .base import ClipDataset

_META_LINE = re.compile(r'^(\S+)\s+(\d+)\s+\((\d+),\s*(\d+),\s*(\d+)\)$')


def parse_reds_meta(path: str) -> List[Dict]:
    """Parse a meta-info file, one ``<sequence> <frames> (<H>,<W>,<C>)`` line
    per sequence (``000 100 (720,1280,3)``)."""
    entries = []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            match = _META_LINE.match(line)
            if match is None:
                raise ValueError(
                    f'{path}:{number}: expected "<sequence> <frames> '
                    f'(<H>,<W>,<C>)", got {line!r}')
            name, frames, height, width, channels = match.groups()
            entries.append(
                dict(sequence=name, total_frames=int(frames),
                     gt_shape=(int(height), int(width), int(channels))))
    return entries


@DATASETS.register_module()
class REDSDataset(ClipDataset):
    """Paired LR/HR frame folders in the REDS layout::

        data_root/train_sharp/000/00000000.png              HR
        data_root/train_sharp_bicubic/X4/000/00000000.png   LR

    Args:
        meta_file: Meta-info file relative to ``data_root`` (see
            :func:`parse_reds_meta`); ``None`` lists the sequence folders of
            ``gt_folder`` and counts their frames.
        gt_folder: HR folder relative to ``data_root``.
        lr_folder: LR folder relative to ``data_root``; ``None`` gives HR
            only, for LR made on the fly by ``vsr.Degrade``.
        filename_tmpl: Frame file name from the frame index.
        **kwargs: :class:`ClipDataset` arguments (``scale``, ``num_frames``,
            ``sequences``: e.g. the REDS4 validation set ``['000', '011',
            '015', '020']``, ...).
    """

    def __init__(self,
                 data_root: str,
                 meta_file: Optional[str] = None,
                 gt_folder: str = 'train_sharp',
                 lr_folder: Optional[str] = 'train_sharp_bicubic/X4',
                 filename_tmpl: str = '{:08d}.png',
                 **kwargs) -> None:
        self.meta_file = meta_file
        self.gt_folder = gt_folder
        self.lr_folder = lr_folder
        self.filename_tmpl = filename_tmpl
        super().__init__(data_root=data_root, **kwargs)

    def _scan(self) -> List[Dict]:
        root = osp.join(self.data_root, self.gt_folder)
        if not osp.isdir(root):
            raise FileNotFoundError(f'HR folder {root} not found; check '
                                    'data_root and gt_folder')
        entries = []
        for name in sorted(os.listdir(root)):
            folder = osp.join(root, name)
            if osp.isdir(folder):
                frames = [f for f in os.listdir(folder)
                          if osp.splitext(f)[1].lower() in ('.png', '.jpg')]
                entries.append(dict(sequence=name, total_frames=len(frames)))
        return entries

    def load_sequences(self) -> List[Dict]:
        if self.meta_file is None:
            entries = self._scan()
        else:
            entries = parse_reds_meta(osp.join(self.data_root,
                                               self.meta_file))
        for entry in entries:
            names = [self.filename_tmpl.format(i)
                     for i in range(entry['total_frames'])]
            entry['gt_paths'] = [
                osp.join(self.data_root, self.gt_folder, entry['sequence'], n)
                for n in names
            ]
            if self.lr_folder is not None:
                entry['lr_paths'] = [
                    osp.join(self.data_root, self.lr_folder,
                             entry['sequence'], n) for n in names
                ]
        return entries
