"""Vimeo-90K septuplets (Xue et al., IJCV 2019)."""
import os.path as osp
from typing import Dict, List, Optional

from ..registry import DATASETS
from .base import ClipDataset

SEPTUPLET_FRAMES = 7


@DATASETS.register_module()
class Vimeo90KDataset(ClipDataset):
    """Vimeo-90K septuplets listed in a file such as ``sep_trainlist.txt``::

        data_root/sequences/00001/0001/im1.png ... im7.png     HR
        data_root/<lr_folder>/00001/0001/im1.png ... im7.png    LR

    Each line of ``ann_file`` (``00001/0001``) is one sequence of seven
    frames named ``im1.png`` to ``im7.png``.

    Args:
        ann_file: Septuplet list relative to ``data_root``.
        gt_folder: HR folder relative to ``data_root``.
        lr_folder: LR folder relative to ``data_root`` (for instance the
            ``sequences`` folder of the MATLAB-downsampled release), or
            ``None`` for HR only, with LR made on the fly by ``vsr.Degrade``.
        **kwargs: :class:`ClipDataset` arguments; ``num_frames`` defaults to
            the whole septuplet.
    """

    def __init__(self,
                 data_root: str,
                 ann_file: str = 'sep_trainlist.txt',
                 gt_folder: str = 'sequences',
                 lr_folder: Optional[str] = None,
                 **kwargs) -> None:
        self.list_file = ann_file
        self.gt_folder = gt_folder
        self.lr_folder = lr_folder
        super().__init__(data_root=data_root, **kwargs)

    def load_sequences(self) -> List[Dict]:
        path = osp.join(self.data_root, self.list_file)
        with open(path, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]
        frame_names = [f'im{i}.png' for i in range(1, SEPTUPLET_FRAMES + 1)]
        entries = []
        for name in names:
            entry = dict(
                sequence=name,
                total_frames=SEPTUPLET_FRAMES,
                gt_paths=[
                    osp.join(self.data_root, self.gt_folder, name, f)
                    for f in frame_names
                ])
            if self.lr_folder is not None:
                entry['lr_paths'] = [
                    osp.join(self.data_root, self.lr_folder, name, f)
                    for f in frame_names
                ]
            entries.append(entry)
        return entries
