"""Freeze parts of a model and keep BatchNorm statistics fixed.

Freeze a model when it is built, before DistributedDataParallel wraps it,
because DDP registers only the parameters that require gradients then.
The optimizer constructor ``VidftOptimWrapperConstructor`` then leaves the
frozen parameters out.

Patterns are shell-style (:func:`fnmatch.fnmatchcase`) and match whole
dotted names, where ``*`` also crosses dots: ``'backbone.layer1'`` is one
module, ``'backbone.layer[12]'`` two, ``'*.bn*'`` every module or parameter
whose last name starts with ``bn``. A pattern that names a module covers all
of its parameters; a pattern may also name a single parameter.
"""
import re
from fnmatch import fnmatchcase
from typing import Dict, List, Optional, Sequence, Tuple

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.parallel import DistributedDataParallel

# Module names shown when a pattern or a stage prefix matches nothing.
NUM_EXAMPLE_NAMES = 8

StageSpec = Tuple[str, int]


def select_parameters(model: nn.Module, patterns: Sequence[str] = (), *,
                      stages: Optional[StageSpec] = None
                      ) -> Dict[str, nn.Parameter]:
    """Return the parameters that ``patterns`` and ``stages`` cover, by name.

    See :func:`freeze` for the meaning of the arguments.

    Raises:
        ValueError: A pattern matches no module or parameter, or ``stages``
            cannot be resolved.
    """
    if isinstance(patterns, str):
        patterns = (patterns,)
    prefixes: List[str] = []
    for pattern in patterns:
        matched = [name for name, _ in model.named_modules()
                   if name and fnmatchcase(name, pattern)]
        matched += [name for name, _ in model.named_parameters()
                    if fnmatchcase(name, pattern)]
        if not matched:
            raise ValueError(
                f'freeze pattern {pattern!r} matches no module or parameter '
                '(patterns are fnmatch patterns on full dotted names). '
                f'Module names look like: {_example_names(model)}')
        prefixes.extend(matched)
    if stages is not None:
        prefixes.extend(stage_module_names(model, stages))

    selected = {}
    for name, param in model.named_parameters():
        if any(name == p or name.startswith(p + '.') for p in prefixes):
            selected[name] = param
    return selected


def freeze(model: nn.Module, patterns: Sequence[str] = (), *,
           stages: Optional[StageSpec] = None) -> List[str]:
    """Set ``requires_grad=False`` on part of ``model``.

    Args:
        model: The model, not yet wrapped by DDP.
        patterns: fnmatch patterns of module or parameter names (see the
            module doc).
        stages: ``(stage prefix, N)`` freezes the stem and the first N
            stages of a ResNet-like backbone; N=0 freezes the stem only. See
            :func:`stage_module_names`.

    Returns:
        The names of the parameters frozen, in model order.
    """
    _reject_wrapper(model)
    selected = select_parameters(model, patterns, stages=stages)
    for param in selected.values():
        param.requires_grad_(False)
    return list(selected)


def unfreeze(model: nn.Module, patterns: Sequence[str] = (), *,
             stages: Optional[StageSpec] = None) -> List[str]:
    """Set ``requires_grad=True`` on part of ``model``, undoing freeze()."""
    _reject_wrapper(model)
    selected = select_parameters(model, patterns, stages=stages)
    for param in selected.values():
        param.requires_grad_(True)
    return list(selected)


def _reject_wrapper(model: nn.Module) -> None:
    if isinstance(model, DistributedDataParallel):
        raise ValueError(
            'expected a model not yet wrapped by DistributedDataParallel, '
            'because DDP only synchronises the parameters that required '
            'gradients when it wrapped the model. Freeze the model when it '
            'is built, or use UnfreezeHook to change what trains later.')


def stage_module_names(model: nn.Module, stages: StageSpec) -> List[str]:
    """Return the names of the stem and the first N stages of a backbone.

    ``stages = (prefix, N)``. A stage is a child module named ``<prefix><k>``
    (torchvision ResNet: ``('layer', 2)`` gives ``layer1``, ``layer2``) or a
    numbered child of a container named ``<prefix>`` (timm EfficientNet:
    ``('blocks', 2)`` gives ``blocks.0``, ``blocks.1``). Stages are ordered
    by their number. The stem is every child of the stages' parent module
    that is registered before the first stage (``conv1``/``bn1`` or
    ``conv_stem``/``bn1``). A dotted prefix (``'backbone.layer'``) picks the
    parent when the model has several.

    Raises:
        ValueError: No module or several modules have such stages, or N is
            larger than the number of stages.
    """
    prefix, count = _check_stage_spec(stages)
    stem, stage_names = _find_stages(model, prefix)
    if count > len(stage_names):
        raise ValueError(f'expected at most {len(stage_names)} stages for '
                         f'{prefix!r}, got {count}')
    return stem + stage_names[:count]


def stage_layer_groups(model: nn.Module, prefix: str) -> List[List[str]]:
    """Return the stem and every stage as layers for layer-wise lr decay.

    The stages are found as in :func:`stage_module_names`. The result suits
    a model's ``layer_groups()`` or ``paramwise_cfg.layer_names``: the stem
    (its modules that have parameters) first, then one layer per stage.
    Modules after the last stage, such as the head, are in no layer.
    """
    stem, stage_names = _find_stages(model, prefix)
    modules = dict(model.named_modules())
    stem = [name for name in stem
            if next(modules[name].parameters(), None) is not None]
    groups = [stem] if stem else []
    return groups + [[name] for name in stage_names]


def _find_stages(model: nn.Module, prefix: str
                 ) -> Tuple[List[str], List[str]]:
    """Return the stem's module names and the stage names, in order."""
    parent_path, _, stage_name = prefix.rpartition('.')
    found = []
    for name, module in model.named_modules():
        if parent_path and not (name == parent_path
                                or name.endswith('.' + parent_path)):
            continue
        numbered = _numbered_stages(module, stage_name)
        if numbered:
            found.append((name, module, numbered))

    if not found:
        raise ValueError(
            f'no module has stages named {prefix!r}: expected children named '
            f"'{stage_name}1', '{stage_name}2', ... or a container "
            f"'{stage_name}' with numbered children. Module names look like: "
            f'{_example_names(model)}')
    if len(found) > 1:
        parents = ', '.join(repr(name or '<model>') for name, _, _ in found)
        raise ValueError(
            f'stages {prefix!r} are ambiguous: the modules {parents} all have '
            "them. Put the parent's name in the prefix, for example "
            f"'{found[0][0] + '.' if found[0][0] else ''}{stage_name}'.")

    parent_name, parent, numbered = found[0]
    base = parent_name + '.' if parent_name else ''
    first_stage_child = numbered[0][1].split('.')[0]
    stem = []
    for child_name, _ in parent.named_children():
        if child_name == first_stage_child:
            break
        stem.append(base + child_name)
    return stem, [base + path for _, path in numbered]


def _check_stage_spec(stages: StageSpec) -> Tuple[str, int]:
    valid = (isinstance(stages, (tuple, list)) and len(stages) == 2
             and isinstance(stages[0], str) and stages[0]
             and isinstance(stages[1], int) and not isinstance(stages[1], bool)
             and stages[1] >= 0)
    if not valid:
        raise ValueError(f"expected stages=(prefix, N) with N >= 0, for "
                         f"example ('layer', 2), got {stages!r}")
    return stages[0], stages[1]


def _numbered_stages(module: nn.Module, stage_name: str
                     ) -> List[Tuple[int, str]]:
    """Return (number, path below ``module``) of each stage, sorted."""
    pattern = re.compile(re.escape(stage_name) + r'(\d+)')
    numbered = []
    for child_name, child in module.named_children():
        match = pattern.fullmatch(child_name)
        if match:
            numbered.append((int(match.group(1)), child_name))
        elif child_name == stage_name and isinstance(
                child, (nn.Sequential, nn.ModuleList)):
            numbered += [(int(n), f'{child_name}.{n}')
                         for n, _ in child.named_children() if n.isdigit()]
    return sorted(numbered)


def _example_names(model: nn.Module) -> str:
    names = [name for name, _ in model.named_modules() if name]
    return ', '.join(names[:NUM_EXAMPLE_NAMES]) or '(no submodules)'


def set_norm_eval(model: nn.Module, *, only_frozen: bool = False) -> List[str]:
    """Put BatchNorm layers in eval mode to keep their running statistics.

    Their affine weight and bias still train unless frozen. Call it after
    every ``model.train()``, because ``train()`` switches the layers back; a
    model gets that by inheriting :class:`NormEvalMixin`.

    Args:
        model: The model.
        only_frozen: Affect only BatchNorm layers whose parameters are all
            frozen, so that frozen stages stay fixed while the rest trains.

    Returns:
        The names of the layers put in eval mode.
    """
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, _BatchNorm):
            continue
        params = list(module.parameters())
        if only_frozen and any(p.requires_grad for p in params):
            continue
        module.eval()
        names.append(name)
    return names


class NormEvalMixin:
    """Keeps BatchNorm running statistics fixed through ``train()`` calls.

    Put it before :class:`torch.nn.Module` in the bases and set
    ``self.norm_eval`` in ``__init__``: ``True`` or ``'all'`` keeps every
    BatchNorm layer in eval mode, ``'frozen'`` only those whose parameters
    are all frozen, ``False`` none.
    """

    norm_eval = False

    def train(self, mode: bool = True) -> nn.Module:
        result = super().train(mode)  # type: ignore[misc]
        if mode and self.norm_eval:
            if self.norm_eval not in (True, 'all', 'frozen'):
                raise ValueError(f"expected norm_eval in (False, True, 'all', "
                                 f"'frozen'), got {self.norm_eval!r}")
            set_norm_eval(self,  # type: ignore[arg-type]
                          only_frozen=self.norm_eval == 'frozen')
        return result
