"""vidft's mmengine Runner: safe checkpoint loading, atomic writes, resume
with fallback, and a guarded optimizer wrapper."""
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch.utils.data import DataLoader

from vidft.finetune.loading import CheckpointMismatchError
from vidft.registry import RUNNERS

from .checkpoint import (ATOMIC_BACKEND, CheckpointLoadError,
                         find_checkpoints, safe_load)
from .log_filters import install_scope_warning_filter
from .optim_wrappers import install_nonfinite_guard

# The value of ``resume`` that picks the newest readable checkpoint.
AUTO_RESUME = 'auto'


def _renamed_weights(checkpoint: Any, revise_keys: Sequence[Tuple[str, str]]
                     ) -> Dict[str, Any]:
    """Return the weights of ``checkpoint`` under the names that
    ``revise_keys`` gives them, or an empty dict without a state dict."""
    state = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else None
    if not isinstance(state, dict):
        return {}
    renamed = {}
    for name, value in state.items():
        for pattern, replacement in revise_keys:
            name = re.sub(pattern, replacement, name)
        renamed[name] = value
    return renamed


def _check_names_match(filename: str, weights: Dict[str, Any],
                       model: torch.nn.Module) -> None:
    """Raise when none of the checkpoint's ``weights`` has a name of
    ``model``.

    mmengine only logs missing and unexpected keys, so a checkpoint of
    another model would otherwise be tested or trained on as if it had
    loaded.
    """
    if not weights:
        return
    names = set(weights)
    model_names = set(model.state_dict())
    if model_names and not names & model_names:
        raise CheckpointMismatchError(
            f'checkpoint {filename} does not match the model of the config: '
            f'none of its {len(names)} weight names is a name of the model '
            f'(checkpoint: {sorted(names)[:2]}, model: '
            f'{sorted(model_names)[:2]}). Pass a checkpoint trained with '
            'this config, or set model.backbone.pretrained to load '
            'backbone weights with a key map')


def _check_shapes_match(filename: str, weights: Dict[str, Any],
                        model: torch.nn.Module) -> None:
    """Raise when one of the checkpoint's ``weights`` has another shape
    than the model's weight of that name.

    Resuming needs the model the checkpoint was trained with: mmengine
    would skip such a weight with a log line, and the optimizer state
    would then fail inside the first update.
    """
    model_state = model.state_dict()
    mismatched = []
    for name, value in weights.items():
        expected = model_state.get(name)
        if (expected is not None and hasattr(value, 'shape')
                and tuple(value.shape) != tuple(expected.shape)):
            mismatched.append(
                f'{name} {tuple(value.shape)} in the checkpoint, '
                f'{tuple(expected.shape)} in the model')
    if mismatched:
        raise CheckpointMismatchError(
            f'cannot resume from {filename}: {len(mismatched)} weight(s) '
            f'have another shape in the model of the config, first '
            f'{mismatched[0]}. Resume with the config the checkpoint was '
            'trained with, or start a new run from its weights with '
            f'load_from={filename} and no --resume')


def component_type_name(component: Any) -> str:
    """Return the class name that a config dict's ``type`` names, without
    its scope prefix, or '' without a type."""
    kind = component.get('type') if isinstance(component, dict) else None
    if isinstance(kind, str):
        return kind.rsplit('.', 1)[-1]
    return getattr(kind, '__name__', '') if kind is not None else ''


def schedule_past_training(cfg: Config) -> List[str]:
    """Describe each parameter scheduler that ends after training does.

    Overriding ``train_cfg.max_epochs`` alone keeps the schedule of the
    longer run, so a cosine decay stops early and the lr stays high.
    """
    train_cfg = cfg.get('train_cfg') or {}
    kind = component_type_name(train_cfg)
    by_epoch = (kind == 'EpochBasedTrainLoop' or
                (not kind and train_cfg.get('by_epoch', False)))
    length = train_cfg.get('max_epochs' if by_epoch else 'max_iters')
    schedulers = cfg.get('param_scheduler')
    if not isinstance(length, int) or not isinstance(schedulers,
                                                      (list, tuple, dict)):
        return []
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    unit = 'epoch' if by_epoch else 'iteration'
    messages = []
    for index, scheduler in enumerate(schedulers):
        if (not isinstance(scheduler, dict)
                or scheduler.get('by_epoch', True) != by_epoch):
            continue
        begin = scheduler.get('begin', 0)
        end = scheduler.get('end')
        if not isinstance(end, int) and isinstance(scheduler.get('T_max'),
                                                   int):
            end = begin + scheduler['T_max']  # a cosine without an end
        if not isinstance(begin, int) or not isinstance(end, int):
            continue
        name = f'param_scheduler[{index}] ({component_type_name(scheduler)})'
        if begin >= length:
            messages.append(
                f'{name} starts at {unit} {begin}, but training ends at '
                f'{unit} {length}, so it never runs; set its begin and end '
                'to fit the shorter run if that is not intended')
        elif end > length:
            done = (length - begin) / (end - begin)
            messages.append(
                f'{name} ends at {unit} {end}, but training ends at {unit} '
                f'{length}, so it stops {done:.0%} of the way through; set '
                'its end (and T_max) to fit the shorter run if that is not '
                'intended')
    return messages


@RUNNERS.register_module()
class VidftRunner(Runner):
    """mmengine's :class:`~mmengine.runner.Runner` with vidft's safety rules.

    * Every checkpoint load (``resume``, ``load_from``, testing) goes through
      :func:`vidft.engine.checkpoint.safe_load`.
    * Every checkpoint write to a local folder is atomic.
    * ``resume`` accepts, besides mmengine's True/False, the path of a
      checkpoint or ``'auto'``. ``'auto'`` takes the newest readable
      checkpoint of the work dir. When the newest cannot be loaded, a WARNING
      names it and older ones are tried. When the work dir has none,
      training starts from ``load_from``.
    * The optimizer wrapper skips the update for a non-finite loss (see
      :class:`vidft.engine.optim_wrappers.NonFiniteLossGuard`).
    * Each data loader draws its worker base seed from its own generator, so
      creating an iterator does not advance the global torch generator and a
      resumed run draws the same random numbers as an uninterrupted one.

    Build it with :func:`vidft.engine.build_runner`, which also prepares the
    config (launcher, CPU process group, hooks, logging backends).
    """

    _resuming = False

    @property
    def is_resuming(self) -> bool:
        """Whether a checkpoint is being loaded to resume training (as
        opposed to ``load_from`` weights for fine-tuning or testing)."""
        return self._resuming

    def build_logger(self, log_level: Union[int, str] = 'INFO',
                     log_file: Optional[str] = None,
                     **kwargs: Any) -> MMLogger:
        logger = super().build_logger(log_level=log_level, log_file=log_file,
                                      **kwargs)
        install_scope_warning_filter(logger)
        return logger

    @staticmethod
    def build_dataloader(dataloader: Union[DataLoader, Dict],
                         seed: Optional[int] = None,
                         diff_rank_seed: bool = False) -> DataLoader:
        loader = Runner.build_dataloader(dataloader, seed=seed,
                                         diff_rank_seed=diff_rank_seed)
        if isinstance(loader, DataLoader) and loader.generator is None:
            generator = torch.Generator()
            generator.manual_seed(seed if seed is not None else 0)
            loader.generator = generator
        return loader

    def build_optim_wrapper(
        self, optim_wrapper: Union[OptimWrapper, OptimWrapperDict, Dict]
    ) -> Union[OptimWrapper, OptimWrapperDict]:
        wrapper = super().build_optim_wrapper(optim_wrapper)
        install_nonfinite_guard(wrapper)
        return wrapper

    def load_checkpoint(
        self,
        filename: str,
        map_location: Union[str, Callable] = 'cpu',
        strict: bool = False,
        revise_keys: Sequence[Tuple[str, str]] = ((r'^module.', ''), )
    ) -> Dict[str, Any]:
        """Load ``filename`` with :func:`safe_load` into the model.

        Hooks see the checkpoint (``after_load_checkpoint``) before the
        weights are copied, as in mmengine. Arguments are mmengine's.
        """
        checkpoint = safe_load(filename, map_location=map_location)
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)

        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        weights = _renamed_weights(checkpoint, revise_keys)
        _check_names_match(filename, weights, model)
        if self._resuming:
            _check_shapes_match(filename, weights, model)
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=list(revise_keys))
        self._has_loaded = True
        self.logger.info(f'Loaded checkpoint {filename}')
        return checkpoint

    def train(self) -> torch.nn.Module:
        for message in schedule_past_training(self.cfg):
            self.logger.warning(message)
        return super().train()

    def resume(self, filename: str, resume_optimizer: bool = True,
               resume_param_scheduler: bool = True,
               map_location: Union[str, Callable] = 'default') -> None:
        self._resuming = True
        try:
            super().resume(filename, resume_optimizer=resume_optimizer,
                           resume_param_scheduler=resume_param_scheduler,
                           map_location=map_location)
        finally:
            self._resuming = False

    def load_or_resume(self) -> None:
        if self._has_loaded:
            return
        request = self._resume
        pretrained = self._load_from

        if not request:
            if pretrained is not None:
                self.load_checkpoint(pretrained)
            return
        if request is True:
            # mmengine's meaning: resume load_from, or the latest checkpoint.
            if pretrained is not None:
                self.resume(pretrained)
                return
            request = AUTO_RESUME

        if request != AUTO_RESUME:
            self.resume(request)
            return
        if self._resume_newest_readable() is not None:
            return
        if pretrained is not None:
            self.logger.info(f'no checkpoint to resume in {self.work_dir}; '
                             f'starting from load_from={pretrained}')
            self.load_checkpoint(pretrained)
        else:
            self.logger.info(f'no checkpoint to resume in {self.work_dir}; '
                             'starting from scratch')
        self._has_loaded = True

    def _resume_newest_readable(self) -> Optional[str]:
        candidates = find_checkpoints(self.work_dir)
        failures: List[str] = []
        for index, path in enumerate(candidates):
            try:
                self.resume(path)
            except CheckpointLoadError as exc:
                failures.append(path)
                following = candidates[index + 1:index + 2]
                fallback = (f'falling back to {following[0]}' if following
                            else 'no older checkpoint is left')
                self.logger.warning(f'cannot resume from {path}: {exc}; '
                                    f'{fallback}')
                continue
            self.logger.info(f'resumed from {path}')
            return path
        if failures:
            raise RuntimeError(
                f"none of the checkpoints in {self.work_dir} can be loaded "
                f"({', '.join(failures)}); delete the broken files to start "
                'again, or pass --resume PATH with a good checkpoint')
        return None

    def save_checkpoint(self, out_dir: str, filename: str,
                        file_client_args: Optional[dict] = None,
                        save_optimizer: bool = True,
                        save_param_scheduler: bool = True,
                        meta: Optional[dict] = None, by_epoch: bool = True,
                        backend_args: Optional[dict] = None) -> None:
        """Save a checkpoint as mmengine does; writes to a local folder are
        atomic. Arguments are mmengine's; rank 0 writes, other ranks return.
        """
        if file_client_args is None and backend_args is None and \
                '://' not in str(out_dir):
            backend_args = dict(backend=ATOMIC_BACKEND)
        super().save_checkpoint(
            out_dir, filename, file_client_args=file_client_args,
            save_optimizer=save_optimizer,
            save_param_scheduler=save_param_scheduler, meta=meta,
            by_epoch=by_epoch, backend_args=backend_args)
