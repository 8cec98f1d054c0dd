"""Safe checkpoint loading and atomic checkpoint writing.

Loading: every checkpoint goes through ``torch.load(weights_only=True)``,
which rebuilds tensors and plain containers but calls no code from the file.
An mmengine checkpoint also contains ``mmengine.logging.HistoryBuffer``
objects (the message hub) and numpy arrays and scalars, so :func:`safe_load`
allows exactly those classes, for the duration of the call only. A HistoryBuffer
pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``; the
global ``builtins.getattr`` is therefore mapped to :func:`_history_getattr`,
which returns only those four methods and rejects every other attribute.

Writing: :func:`atomic_write` writes into a temporary file in the target
folder, flushes and fsyncs it, then renames it over the target, so a crash
leaves either the old file or the complete new one, never a truncated file.
"""
import os
import os.path as osp
import re
import secrets
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.runner.checkpoint import CheckpointLoader

# Name of AtomicLocalBackend in mmengine's registry of file backends.
ATOMIC_BACKEND = 'vidft_atomic_local'

# Statistics methods that HistoryBuffer pickles by attribute name.
HISTORY_BUFFER_METHODS = frozenset({'min', 'max', 'current', 'mean'})

# File names that mmengine's CheckpointHook writes with its default template.
CHECKPOINT_NAME = re.compile(r'^(?:epoch|iter)_(\d+)\.pth$')


class CheckpointLoadError(RuntimeError):
    """A checkpoint that is unreadable (truncated, not a checkpoint) or that
    contains objects outside the allowlist. ``path`` is the file."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _history_getattr(obj: Any, name: str) -> Any:
    if obj is HistoryBuffer and name in HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise AttributeError(
        f'checkpoint asks for getattr({obj!r}, {name!r}); only the '
        f'HistoryBuffer statistics methods {sorted(HISTORY_BUFFER_METHODS)} '
        'are allowed')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    reconstruct = np.zeros(0).__reduce__()[0]
    scalar = np.float64(0).__reduce__()[0]
    entries: List[Union[Callable, Tuple[Callable, str]]] = [
        np.ndarray, np.dtype]
    # numpy 1.x writes 'numpy.core.multiarray', numpy 2.x 'numpy._core...'.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        entries.append((reconstruct, f'{module}._reconstruct'))
        entries.append((scalar, f'{module}.scalar'))
    for dtype in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                  np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                  np.float64):
        entries.append(type(np.dtype(dtype)))
    return entries


def allowed_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """Classes and functions, beyond torch's defaults, that vidft allows in
    a checkpoint."""
    return [HistoryBuffer, (_history_getattr, 'builtins.getattr'),
            *_numpy_globals()]


def safe_load(path: str, *, trust: bool = False,
              map_location: Any = 'cpu') -> Any:
    """Load a checkpoint without running code stored in it.

    Args:
        path: a local file. URLs are rejected: nothing downloads at run time.
        trust: load with ``weights_only=False``, which runs any code the
            file contains. Only for files you created yourself; a WARNING
            names the file.
        map_location: as for :func:`torch.load`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        CheckpointLoadError: the file is truncated, not a checkpoint, or
            contains a class outside :func:`allowed_globals`.
    """
    if '://' in path:
        raise ValueError(f'expected a local checkpoint file, got {path!r}; '
                         'download it first and pass the local path')
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path} does not exist')

    if trust:
        MMLogger.get_current_instance().warning(
            f'loading {path} with weights_only=False (trust=True): any code '
            'in the file runs now')
        return torch.load(path, map_location=map_location,
                          weights_only=False)

    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location=map_location,
                              weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise CheckpointLoadError(
            path, f'cannot load checkpoint {path} safely: '
            f'{type(exc).__name__}: {_cause_of(exc)}. If the file is '
            'truncated, delete it; if it holds other classes and you '
            'created it yourself, load it with trust=True') from exc


# Words that mark the line of torch's weights_only error naming the global.
_CAUSE_MARKERS = ('GLOBAL', 'Unsupported', 'unrecognized', 'Can only')


def _cause_of(exc: BaseException) -> str:
    # torch's weights_only error opens with a generic paragraph; the line
    # that names the rejected global comes later.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return '(no message)'
    for line in lines:
        if any(marker in line for marker in _CAUSE_MARKERS):
            return line.rstrip('.')
    return lines[0].rstrip('.')


def _load_local_for_mmengine(filename: str, map_location: Any = None) -> Any:
    return safe_load(filename, map_location=map_location)


def install_safe_loader() -> None:
    """Route mmengine's loading of local checkpoint files through
    :func:`safe_load`.

    mmengine's ``load_checkpoint`` (used by ``init_cfg=dict(type='Pretrained')``
    and by code outside the runner) looks up a loader by path prefix. This
    replaces the loader of plain local paths for the whole process.
    """
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_local_for_mmengine, force=True)


def _fsync_folder(folder: str) -> None:
    # A rename is durable only once the folder entry is on disk. Not every
    # platform can open a folder, so this step is best effort.
    if not hasattr(os, 'O_DIRECTORY'):
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def _temporary_sibling(path: str) -> Iterator[Tuple[str, Any]]:
    folder = osp.dirname(osp.abspath(path)) or '.'
    os.makedirs(folder, exist_ok=True)
    tmp_path = osp.join(
        folder, f'.{osp.basename(path)}.{os.getpid()}.'
        f'{secrets.token_hex(4)}.tmp')
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, 'wb') as file:
            yield tmp_path, file
            file.flush()
            os.fsync(file.fileno())
    except BaseException:
        if osp.exists(tmp_path):
            os.unlink(tmp_path)
        raise


def atomic_write(path: str, write: Callable[[Any], None]) -> None:
    """Write ``path`` atomically through ``write(file)``.

    ``write`` fills a temporary file next to ``path``, which is then renamed
    to ``path``. On any error the temporary file is removed and ``path`` is
    unchanged.
    """
    with _temporary_sibling(path) as (tmp_path, file):
        write(file)
    try:
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise
    _fsync_folder(osp.dirname(osp.abspath(path)))


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save(obj, path)`` through :func:`atomic_write`."""
    atomic_write(path, lambda file: torch.save(obj, file))


def atomic_write_text(text: str, path: str) -> None:
    """Write ``text`` as UTF-8 through :func:`atomic_write`."""
    atomic_write(path, lambda file: file.write(text.encode('utf-8')))


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend with atomic :meth:`put`.

    mmengine's ``save_checkpoint`` serialises a checkpoint to bytes and passes
    them to a backend's ``put``. vidft's runner selects this backend for
    local folders, so every checkpoint write is atomic.
    """

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        filepath = str(filepath)
        atomic_write(filepath, lambda file: file.write(obj))
        MMLogger.get_current_instance().info(f'Checkpoint written to '
                                             f'{filepath}')


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def checkpoint_step(path: str) -> Optional[int]:
    """Return N for a file named ``epoch_N.pth`` or ``iter_N.pth``."""
    match = CHECKPOINT_NAME.match(osp.basename(path))
    return int(match.group(1)) if match else None


def find_checkpoints(work_dir: str) -> List[str]:
    """List the checkpoints of a run, newest first.

    Candidates are the file named in ``work_dir/last_checkpoint`` and every
    ``epoch_N.pth`` / ``iter_N.pth`` in its folder (``work_dir`` when the
    pointer is missing), ordered by N.
    """
    folder = work_dir
    pointed: Optional[str] = None
    pointer_file = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer_file):
        with open(pointer_file, encoding='utf-8') as file:
            pointed = file.read().strip() or None
        if pointed is not None:
            folder = osp.dirname(pointed) or work_dir

    found = []
    if osp.isdir(folder):
        for name in os.listdir(folder):
            step = checkpoint_step(name)
            if step is not None and osp.isfile(osp.join(folder, name)):
                found.append((step, osp.join(folder, name)))
    found.sort(key=lambda item: item[0], reverse=True)
    paths = [path for _, path in found]

    if pointed is not None and osp.isfile(pointed) and not any(
            osp.samefile(pointed, path) for path in paths):
        paths.insert(0, pointed)
    return paths
