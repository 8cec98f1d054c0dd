"""The behaviour shared by backbones that wrap an image model of a library.

A wrapper keeps the library's model as ``self.model`` with its own module
names, so a checkpoint of that library loads without renaming. What the
wrappers add is the same for every library: named intermediate features,
layer groups for layer-wise learning-rate decay, frozen stages, BatchNorm in
eval mode, and pretrained weights loaded through
:func:`vidft.finetune.load_pretrained`.
"""
import logging
import re
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

from mmengine.model import BaseModule
from torch import Tensor, nn

from vidft.finetune import NormEvalMixin, freeze

from .feature_hooks import FeatureCollector, FeatureNames

logger = logging.getLogger(__name__)

#: Key prefix of a wrapped backbone's weights in a checkpoint of a whole
#: vidft model (``backbone`` of the model, ``model`` of the wrapper).
WHOLE_MODEL_PREFIX = 'backbone.model.'

BackboneOutput = Union[Tensor, Tuple[Tensor, ...], Dict[str, Tensor]]
KeyMap = Union[str, Callable[[Dict[str, Tensor]], Dict[str, Tensor]]]


def check_frozen_stages(frozen_stages: int) -> None:
    """Raise unless ``frozen_stages`` is -1 (none) or a group index."""
    if (not isinstance(frozen_stages, int) or isinstance(frozen_stages, bool)
            or frozen_stages < -1):
        raise ValueError(f'expected frozen_stages >= -1 (-1 freezes '
                         f'nothing), got {frozen_stages!r}')


def norm_eval_mode(norm_eval: bool, frozen_stages: int) -> Union[bool, str]:
    """Return the :class:`~vidft.finetune.NormEvalMixin` setting.

    ``norm_eval=True`` keeps every BatchNorm in eval mode. Otherwise frozen
    stages still keep theirs in eval mode (``'frozen'``), so that their
    running statistics stay those of the checkpoint.
    """
    if norm_eval:
        return True
    return 'frozen' if frozen_stages >= 0 else False


def classifier_patterns(names: Sequence[str]) -> List[str]:
    """Return ``drop`` regexes for the checkpoint keys of removed classifiers.

    The keys are then reported as dropped rather than as unexpected. The
    optional ``module.`` prefix covers checkpoints saved from
    DataParallel.
    """
    return [rf'^(module\.)?{re.escape(name)}\.' for name in names]


def freeze_layer_groups(module: nn.Module, groups: List[List[str]],
                        frozen_stages: int) -> List[str]:
    """Freeze the parameters of ``groups[0..frozen_stages]`` of ``module``.

    Returns the names of the frozen parameters.
    """
    if frozen_stages < 0:
        return []
    if frozen_stages >= len(groups):
        raise ValueError(
            f'expected frozen_stages < {len(groups)} for '
            f'{type(module).__name__}, which has {len(groups)} layer groups, '
            f'got {frozen_stages}. Use -1 to freeze none.')
    names = [name for group in groups[:frozen_stages + 1] for name in group]
    frozen = freeze(module, patterns=names)
    logger.info('Froze %d parameters in layer groups 0-%d of %s',
                len(frozen), frozen_stages, type(module).__name__)
    return frozen


class ImageBackbone(NormEvalMixin, BaseModule):
    """Base class of :class:`TimmBackbone` and :class:`TorchvisionBackbone`.

    Subclasses build ``self.model`` and implement :meth:`forward_features`,
    :meth:`_model_layer_groups` and :meth:`_model_feature_info`, then call
    :meth:`_finish_setup`.

    What :meth:`forward` returns depends on the arguments:

    * neither ``out_indices`` nor ``feature_names``: the last feature map
      ``(N, C, H, W)`` with ``C == out_channels``, or pooled features
      ``(N, C)`` for models without a spatial map (vision transformers);
    * ``out_indices``: a tuple of feature maps, one per index into
      :attr:`feature_info` (the last module at each stride, as in timm);
    * ``feature_names``: a dict of the outputs of the named modules of
      ``self.model`` (names as in ``self.model.named_modules()``).

    Pretrained weights load in :meth:`init_weights`, which mmengine's
    ``Runner`` calls before training. Code that builds a backbone on its own
    (a perceptual-loss network) calls ``init_weights()`` itself.
    """

    model: nn.Module
    out_channels: int

    def __init__(self, pretrained: Optional[str] = None,
                 key_map: Optional[KeyMap] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 feature_names: Optional[FeatureNames] = None,
                 frozen_stages: int = -1, norm_eval: bool = False) -> None:
        super().__init__(init_cfg=None)
        if out_indices is not None and feature_names is not None:
            raise ValueError('expected at most one of out_indices and '
                             'feature_names, got both. Use feature_names '
                             'with the module names of every output.')
        check_frozen_stages(frozen_stages)
        if key_map is not None and pretrained is None:
            # A from-scratch run of a config made for converted weights.
            logger.info('key_map %r is not used because pretrained is None',
                        key_map)
        self.pretrained = pretrained
        self.key_map = key_map
        self.out_indices = (tuple(out_indices) if out_indices is not None
                            else None)
        self.feature_names = feature_names
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval_mode(norm_eval, frozen_stages)
        self.load_report = None
        self._collector: Optional[FeatureCollector] = None

    # Subclass hooks -----------------------------------------------------

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the last feature map, or pooled features (see class doc)."""
        raise NotImplementedError

    def _model_layer_groups(self) -> List[List[str]]:
        """Parameter names of ``self.model`` grouped from input to output."""
        raise NotImplementedError

    def _model_feature_info(self) -> Optional[List[dict]]:
        """timm-style ``feature_info`` of ``self.model``, or None."""
        raise NotImplementedError

    def _classifier_names(self) -> List[str]:
        """Module names of the removed classifier inside ``self.model``."""
        raise NotImplementedError

    # Setup --------------------------------------------------------------

    def _finish_setup(self) -> None:
        """Check the output options and freeze stages, once the model
        exists."""
        if self.out_indices is not None:
            info = self.feature_info
            if not info:
                raise ValueError(
                    f'{type(self).__name__} cannot return out_indices for '
                    f'{type(self.model).__name__}, which has no feature '
                    'maps per stride. Use feature_names with module names.')
            bad = [i for i in self.out_indices
                   if not -len(info) <= i < len(info)]
            if bad:
                raise IndexError(f'out_indices {bad} are out of range for '
                                 f'{len(info)} feature levels '
                                 f'{[f["module"] for f in info]}')
            names = [info[i]['module'] for i in self.out_indices]
            self._collector = FeatureCollector(self.model, names)
        elif self.feature_names is not None:
            self._collector = FeatureCollector(self.model, self.feature_names)

        freeze_layer_groups(self, self.layer_groups(), self.frozen_stages)

    @property
    def feature_info(self) -> Optional[List[dict]]:
        """One ``{'module', 'num_chs', 'reduction'}`` dict per stride."""
        if not hasattr(self, '_feature_info_cache'):
            self._feature_info_cache = self._model_feature_info()
        return self._feature_info_cache

    # Forward ------------------------------------------------------------

    def forward(self, x: Tensor) -> BackboneOutput:
        if self._collector is None:
            return self.forward_features(x)
        features = self._collector.run(self._run_for_features, x)
        if self.out_indices is not None:
            return tuple(features.values())
        return features

    def _run_for_features(self, x: Tensor) -> object:
        # Hooks read the outputs, so the default path is enough to run them.
        return self.forward_features(x)

    # Fine-tuning --------------------------------------------------------

    def layer_groups(self) -> List[List[str]]:
        """Return parameter names grouped from the input to the output.

        Group 0 is the stem. Layer-wise learning-rate decay gives each group
        its own rate and ``frozen_stages=k`` freezes groups ``0..k``. Names
        are relative to this backbone (``'model.layer1.0.conv1.weight'``).
        """
        return [[f'model.{name}' for name in group]
                for group in self._model_layer_groups()]

    def init_weights(self) -> None:
        """Load ``pretrained`` into ``self.model``, once.

        Without ``pretrained`` the library's own initialisation is kept. The
        wrapped model's own ``init_weights`` (timm's vision transformers have
        one) is deliberately not called, so it cannot overwrite loaded
        weights.
        """
        if self.is_init:
            return
        if self.pretrained is not None:
            from vidft.finetune import load_pretrained
            # WHOLE_MODEL_PREFIX lets a checkpoint of a whole vidft model
            # (a recognizer's, say) start this backbone; its head keys are
            # then reported as unexpected.
            self.load_report = load_pretrained(
                self.model, self.pretrained,
                key_map=_unless_whole_model(self._resolve_key_map()),
                strip_prefix=('module.', WHOLE_MODEL_PREFIX),
                drop=classifier_patterns(self._classifier_names()))
        self._is_init = True

    def _resolve_key_map(self) -> Optional[Callable]:
        if self.key_map is None or callable(self.key_map):
            return self.key_map
        from vidft.finetune.converters import get_key_map
        return get_key_map(self.key_map, self.model)


def _unless_whole_model(key_map: Optional[Callable]) -> Optional[Callable]:
    """Wrap ``key_map`` so that it leaves a whole vidft model's checkpoint
    alone: its backbone keys are already in this backbone's layout, and a
    converter from another framework would reject them. A LoRA run's
    checkpoint (under ``model.`` of the ``PeftModel`` wrapper) is left
    alone too, so that loading it ends with the hint to merge it."""
    if key_map is None:
        return None
    vidft_prefixes = tuple(f'{outer}{WHOLE_MODEL_PREFIX}'
                           for outer in ('', 'module.', 'model.'))

    def convert(state_dict: Dict[str, Any]) -> Dict[str, Any]:
        if any(key.startswith(vidft_prefixes) for key in state_dict):
            return state_dict
        return key_map(state_dict)

    return convert
