"""Collect the outputs of named submodules during one forward pass.

Perceptual losses and feature pyramids read intermediate activations of an
image network. :class:`FeatureCollector` records them with forward hooks, so
the wrapped network keeps its modules, parameter names and state-dict keys.
"""
import math
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

FeatureNames = Union[Sequence[str], Mapping[str, str]]


class _AllFeaturesCollected(Exception):
    """Raised from a hook to end the forward pass early."""


def normalize_feature_names(names: FeatureNames) -> Dict[str, str]:
    """Return ``{module name: output key}`` for a list or mapping of names.

    A list uses each module name as its own output key, as torchvision's
    ``return_nodes`` does.
    """
    if isinstance(names, str):
        raise TypeError(f'expected a list or dict of module names, got the '
                        f'str {names!r}. Write [{names!r}].')
    if isinstance(names, Mapping):
        mapping = {str(k): str(v) for k, v in names.items()}
    else:
        mapping = {str(name): str(name) for name in names}
    if not mapping:
        raise ValueError('expected at least one feature name, got none')
    keys = list(mapping.values())
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f'expected distinct output keys, got {duplicates} '
                         'more than once')
    return mapping


class FeatureCollector:
    """Record the outputs of named submodules of ``model``.

    Args:
        model: The network whose submodules are read.
        names: Module names as in ``model.named_modules()``, or a mapping from
            module name to the key of its output in the returned dict.
        stop_early: End the forward pass as soon as every named module has
            run, so the layers after the last one cost nothing. The wrapped
            forward must then not rely on running to its end.

    A named module that runs a second time in one forward pass (a ReLU
    shared inside a ResNet block) raises :class:`RuntimeError`, because its
    output would be ambiguous. Name the enclosing block instead. With
    ``stop_early`` the pass can end before the second run, and then the
    first output is returned.
    """

    def __init__(self, model: nn.Module, names: FeatureNames,
                 stop_early: bool = True) -> None:
        self.names = normalize_feature_names(names)
        self.stop_early = stop_early
        modules = dict(model.named_modules())
        unknown = [name for name in self.names if name not in modules]
        if unknown:
            examples = [name for name in modules if name][:8]
            raise ValueError(
                f'unknown module names {unknown} in {type(model).__name__}. '
                f'Expected names from named_modules(), such as {examples}.')
        # Modules are looked up by name in each run, because a wrapper such
        # as peft's LoRA layer may replace one after this collector is built.
        self._model = model
        self._outputs: Dict[str, Tensor] = {}

    def _make_hook(self, name: str) -> Callable:
        def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
            key = self.names[name]
            if key in self._outputs:
                raise RuntimeError(
                    f"module '{name}' ran more than once in one forward pass, "
                    'so its output is ambiguous. Name the block that contains '
                    'it instead.')
            self._outputs[key] = output
            if self.stop_early and len(self._outputs) == len(self.names):
                raise _AllFeaturesCollected

        return hook

    def run(self, forward: Callable[[Tensor], object],
            x: Tensor) -> Dict[str, Tensor]:
        """Call ``forward(x)`` and return the recorded outputs by key.

        The dict follows the order of ``names``. A named module that did not
        run raises :class:`RuntimeError`.
        """
        self._outputs = {}
        handles = [self._model.get_submodule(name).register_forward_hook(
                       self._make_hook(name)) for name in self.names]
        try:
            forward(x)
        except _AllFeaturesCollected:
            pass
        finally:
            for handle in handles:
                handle.remove()

        missing = [name for name, key in self.names.items()
                   if key not in self._outputs]
        if missing:
            raise RuntimeError(
                f'modules {missing} did not run in the forward pass. Name '
                'modules on the feature path, which ends before the removed '
                'classifier.')
        outputs, self._outputs = self._outputs, {}
        return {key: outputs[key] for key in self.names.values()}


def probe_feature_info(steps: Sequence[str], forward_steps: Callable,
                       input_size: int,
                       in_channels: int) -> Optional[list]:
    """Describe the last step at each spatial reduction, like timm.

    ``forward_steps(x)`` must return the output of every step in ``steps``.
    Runs one forward pass on zeros of ``input_size`` pixels and returns a
    list of ``{'module', 'num_chs', 'reduction'}`` dicts, one per stride, or
    None when the steps do not produce NCHW maps.
    """
    with torch.no_grad():
        outputs = forward_steps(torch.zeros(1, in_channels, input_size,
                                            input_size))
    info: list = []
    for name, output in zip(steps, outputs):
        if not isinstance(output, Tensor) or output.dim() != 4:
            return None
        # Valid-padded networks (AlexNet, Inception) give sizes such as 27
        # for stride 8, so report the nominal power-of-two stride, as timm
        # does.
        reduction = 2 ** round(math.log2(input_size / output.shape[-1]))
        entry = dict(module=name, num_chs=int(output.shape[1]),
                     reduction=int(reduction))
        if info and info[-1]['reduction'] == reduction:
            info[-1] = entry
        else:
            info.append(entry)
    return info
