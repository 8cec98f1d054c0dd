"""Read and write weight files: PyTorch pickles and safetensors.

PyTorch files are always read with ``torch.load(weights_only=True)``, which
rebuilds tensors and plain containers but never calls the code a pickle
names. A file that needs more is rejected unless the caller passes
``trust=True`` after checking where the file came from.
"""
import logging
import os
import os.path as osp
import pickle
import tempfile
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor

from .report import LoggerLike, format_keys, get_logger

# Keys under which training frameworks nest the model's state dict, unwrapped
# in this order. mmengine writes 'state_dict', torchvision's reference
# scripts 'model', and some older scripts 'module'.
WRAPPER_KEYS = ('state_dict', 'model', 'module')

SAFETENSORS_SUFFIX = '.safetensors'


class UntrustedPickleError(pickle.UnpicklingError):
    """A weight file that ``torch.load(weights_only=True)`` cannot read."""


def load_state_dict_file(path: str, *, trust: bool = False,
                         logger: LoggerLike = None) -> Dict[str, Tensor]:
    """Read a state dict from a PyTorch or ``.safetensors`` file.

    A checkpoint that nests the weights under ``'state_dict'``, ``'model'`` or
    ``'module'`` is unwrapped. Entries that are not tensors (an epoch counter,
    a config) are left out with a WARNING.

    Args:
        path: A local file. Remote names go through :func:`resolve_weights`.
        trust: Load a PyTorch file with ``weights_only=False``. That runs any
            code the pickle names, so set it only for a file you have checked.
        logger: Where to log, see :func:`vidft.finetune.report.get_logger`.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        UntrustedPickleError: The file needs more than tensors and containers
            and ``trust`` is False.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'weight file not found: {path}')
    log = get_logger(logger)

    if path.endswith(SAFETENSORS_SUFFIX):
        from safetensors.torch import load_file
        return load_file(path, device='cpu')

    checkpoint = _torch_load(path, trust=trust, log=log)
    return _extract_state_dict(checkpoint, path, log)


def _torch_load(path: str, *, trust: bool, log: logging.Logger) -> Any:
    if trust:
        log.warning(f'Loading {path} with torch.load(weights_only=False) '
                    'because trust=True; this runs any code the file names.')
        return torch.load(path, map_location='cpu', weights_only=False)

    # Resume's allow-list (HistoryBuffer, numpy scalars) lets a vidft
    # training checkpoint start a backbone without trust=True.
    from vidft.engine.checkpoint import allowed_globals

    try:
        with torch.serialization.safe_globals(allowed_globals()):
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        raise UntrustedPickleError(
            f'{path} cannot be loaded with torch.load(weights_only=True), '
            'because it contains pickled objects other than tensors and '
            f'plain containers ({_unpickler_reason(error)}). Loading it '
            'anyway would run code stored in the file. If you have checked '
            'that the file comes from a source you trust, pass trust=True '
            '(load_pretrained(..., trust=True) or load_state_dict_file(path, '
            'trust=True)); otherwise save its tensors as .safetensors on a '
            'machine where the file is trusted.') from error


def _unpickler_reason(error: Exception) -> str:
    # torch puts the rejected global on a line of its own; the rest of its
    # message is generic advice.
    for line in str(error).splitlines():
        line = line.strip()
        if line.startswith('WeightsUnpickler error:'):
            return line
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _extract_state_dict(checkpoint: Any, path: str,
                        log: logging.Logger) -> Dict[str, Tensor]:
    while isinstance(checkpoint, Mapping):
        key = next((k for k in WRAPPER_KEYS
                    if isinstance(checkpoint.get(k), Mapping)), None)
        if key is None:
            break
        log.debug(f"Unwrapping the state dict stored under '{key}' in {path}")
        checkpoint = checkpoint[key]

    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'expected {path} to contain a state dict (a '
                        'mapping of names to tensors), got '
                        f'{type(checkpoint).__name__}')

    state_dict = {}
    skipped = []
    for key, value in checkpoint.items():
        if isinstance(value, Tensor):
            state_dict[str(key)] = value
        else:
            skipped.append(str(key))
    if skipped:
        log.warning(f'Ignoring {len(skipped)} entries of {path} that are not '
                    f'tensors: {format_keys(skipped)}')
    if not state_dict:
        raise ValueError(f'{path} contains no tensors; expected a state dict '
                         f"or a checkpoint with one under {WRAPPER_KEYS}")
    return state_dict


def save_state_dict_file(state_dict: Mapping[str, Tensor], path: str, *,
                         metadata: Optional[Dict[str, str]] = None) -> None:
    """Write ``state_dict`` to ``path`` atomically.

    A ``.safetensors`` path is written with safetensors; tensors that share
    storage (tied weights) are cloned first, because safetensors rejects
    shared storage. Any other suffix is written with :func:`torch.save`.
    ``metadata`` (str to str) is only stored in safetensors files.
    """
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f'expected only tensors in the state dict, got '
                        f'other values for: {format_keys(bad)}')
    if metadata is not None and not path.endswith(SAFETENSORS_SUFFIX):
        raise ValueError(f'metadata is only stored in {SAFETENSORS_SUFFIX} '
                         f'files, got the path {path}; drop metadata or use '
                         f'a {SAFETENSORS_SUFFIX} path')

    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(dir=folder, suffix='.tmp')
    os.close(handle)
    try:
        if path.endswith(SAFETENSORS_SUFFIX):
            from safetensors.torch import save_file
            save_file(_unshare(state_dict), tmp_path, metadata=metadata)
        else:
            torch.save(dict(state_dict), tmp_path)
        os.replace(tmp_path, path)
    finally:
        if osp.exists(tmp_path):
            os.remove(tmp_path)


def _unshare(state_dict: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    seen = set()
    result = {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen or not tensor.is_contiguous():
            tensor = tensor.clone().contiguous()
        seen.add(tensor.untyped_storage().data_ptr())
        result[key] = tensor
    return result
