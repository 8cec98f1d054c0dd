"""The Vimeo-90K triplet dataset of frame-interpolation benchmarks."""
import logging
import os.path as osp
from typing import List, Sequence, Union

from mmengine.dataset import BaseDataset

from .pipeline import build_pipeline
from ..registry import DATASETS

logger = logging.getLogger(__name__)

#: File names of a triplet: first input, target, second input.
TRIPLET_FILES = ('im1.png', 'im2.png', 'im3.png')


@DATASETS.register_module()
class Vimeo90KTripletDataset(BaseDataset):
    """Vimeo-90K triplets: predict ``im2.png`` from ``im1.png`` and ``im3.png``.

    Layout under ``data_root``::

        tri_trainlist.txt, tri_testlist.txt   one '00001/0001' per line
        sequences/00001/0001/im1.png ... im3.png

    Every line of ``ann_file`` becomes one sample with timestep 0.5, and
    blank lines are skipped. Validation on ``tri_testlist.txt`` therefore
    evaluates every listed triplet.

    Args:
        ann_file: List file, relative to ``data_root``.
        data_root: Root of the extracted dataset.
        sequence_dir: Folder of the triplets, relative to ``data_root``.
        pipeline: Transforms, configs or callables.
        test_mode: Passed to mmengine's ``BaseDataset``.
    """

    def __init__(self,
                 ann_file: str = 'tri_trainlist.txt',
                 data_root: str = '',
                 sequence_dir: str = 'sequences',
                 pipeline: Sequence[Union[dict, object]] = (),
                 test_mode: bool = False,
                 **kwargs) -> None:
        self.sequence_dir = sequence_dir
        super().__init__(ann_file=ann_file, data_root=data_root,
                         pipeline=build_pipeline(pipeline), test_mode=test_mode,
                         **kwargs)

    def load_data_list(self) -> List[dict]:
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(
                f'Vimeo-90K list file {self.ann_file!r} not found; set data_root to '
                'the folder that holds tri_trainlist.txt and tri_testlist.txt')
        with open(self.ann_file, encoding='utf-8') as f:
            names = [line.strip() for line in f if line.strip()]

        root = osp.join(self.data_root, self.sequence_dir)
        data_list = []
        missing = []
        for name in names:
            folder = osp.join(root, name)
            if not osp.isdir(folder):
                missing.append(folder)
                continue
            data_list.append(dict(
                frame_paths=[osp.join(folder, file) for file in TRIPLET_FILES],
                sequence=name,
                timestep=0.5))
        if missing:
            raise FileNotFoundError(
                f'{len(missing)} of {len(names)} triplet folders listed in '
                f'{self.ann_file!r} are missing, the first is {missing[0]!r}; '
                f"check data_root and sequence_dir ('{self.sequence_dir}')")
        logger.info('Vimeo-90K: %d triplets from %s', len(data_list), self.ann_file)
        return data_list
