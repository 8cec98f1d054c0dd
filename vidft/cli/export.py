"""Export checkpoints in other forms.

``vidft export --merge-lora CONFIG CHECKPOINT OUT`` builds the model of a
LoRA config (a ``PeftModel``, which loads the base weights) and loads the
LoRA checkpoint into it. It then folds the LoRA weights into the base
layers and writes a plain checkpoint of the inner model,
``{'meta', 'state_dict'}`` with the inner model's own parameter names,
which loads without peft. The
checkpoint's ``meta['cfg']`` is the config with the ``PeftModel`` wrapper
removed, so ``vidft test`` can use it once saved as a file
(``--save-config``).
"""
import argparse
import copy
import logging
import time
from typing import Any, Dict

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from ..config import ConfigError, load_config
from ..engine import atomic_save, safe_load
from ..engine.checkpoint import atomic_write_text
from ..finetune.loading import CheckpointMismatchError
from ..finetune.peft import PeftModel, read_peft_reference
from ..registry import MODELS

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--merge-lora', action='store_true', required=True,
                        help='merge the LoRA weights of CHECKPOINT into the '
                        'base layers (the only export so far)')
    parser.add_argument('config', metavar='CONFIG',
                        help='config of the LoRA run (model type PeftModel)')
    parser.add_argument('checkpoint', metavar='CHECKPOINT',
                        help='checkpoint written by the LoRA run')
    parser.add_argument('out', metavar='OUT',
                        help='path of the merged checkpoint to write (.pth)')
    parser.add_argument('--save-config', metavar='PATH',
                        help='also write the config without the PeftModel '
                        'wrapper to this .py file')
    parser.add_argument(
        '--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
        help='override config keys, e.g. model.peft.r=4')


def unwrap_peft_config(cfg: Config) -> Config:
    """Return a copy of ``cfg`` whose model is the PeftModel's inner model.

    Raises:
        ConfigError: The model type of ``cfg`` is not ``PeftModel``.
    """
    model = cfg.get('model')
    kind = model.get('type') if isinstance(model, dict) else None
    if not (isinstance(kind, str) and kind.rsplit('.', 1)[-1] == 'PeftModel'):
        raise ConfigError([('model.type', (
            f"expected a config whose model type is 'PeftModel', got "
            f'{kind!r}, so there is nothing to merge; pass the config of '
            'the LoRA run (see vidft.finetune.apply_strategy)'))],
            source=cfg.filename)
    plain = copy.deepcopy(cfg)
    plain.model = plain.model['model']
    return plain


def merge_lora_checkpoint(cfg: Config, checkpoint_path: str,
                          out_path: str) -> Dict[str, Any]:
    """Write the merged checkpoint of a LoRA run to ``out_path``.

    Returns:
        The checkpoint written (``meta`` and ``state_dict``).

    Raises:
        ConfigError: The config is not a LoRA config.
        CheckpointMismatchError: The checkpoint is not from a LoRA run, does
            not fit the model, or its base weights differ from the model's.
    """
    plain_cfg = unwrap_peft_config(cfg)

    # The checkpoint is checked first because building the model can load
    # pretrained weights, which takes a while.
    checkpoint = safe_load(checkpoint_path)
    reference = read_peft_reference(checkpoint)
    if reference is None:
        raise CheckpointMismatchError(
            f'{checkpoint_path} has no LoRA base reference, so it was not '
            'saved from a PeftModel run; pass a checkpoint of the LoRA run '
            'that the config describes')

    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'vidft')):
        model = MODELS.build(cfg.model)
    if not isinstance(model, PeftModel):
        raise TypeError(f'expected the config to build a PeftModel, got '
                        f'{type(model).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    result = model.load_state_dict(state_dict, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointMismatchError(
            f'{checkpoint_path} does not fit the model of the config: '
            f'missing {result.missing_keys[:5]}, unexpected '
            f'{result.unexpected_keys[:5]}; pass the config of the run that '
            'wrote the checkpoint')

    merged = model.merge()
    merged.eval()
    meta = dict(merged_from=checkpoint_path, base=reference,
                cfg=plain_cfg.pretty_text,
                time=time.strftime('%Y%m%d_%H%M%S'))
    source_meta = checkpoint.get('meta') if isinstance(checkpoint, dict) \
        else None
    if isinstance(source_meta, dict):
        for key in ('epoch', 'iter', 'dataset_meta'):
            if key in source_meta:
                meta[key] = source_meta[key]
    exported = dict(meta=meta, state_dict={
        k: v.detach().cpu() for k, v in merged.state_dict().items()})
    atomic_save(exported, out_path)
    logger.info('wrote the merged checkpoint %s (%d tensors, %s elements)',
                out_path, len(exported['state_dict']),
                f"{sum(v.numel() for v in exported['state_dict'].values()):,}")
    return exported


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.cfg_options)
    with torch.no_grad():
        merge_lora_checkpoint(cfg, args.checkpoint, args.out)
    print(f'merged checkpoint written to {args.out}')
    if args.save_config:
        atomic_write_text(unwrap_peft_config(cfg).pretty_text,
                          args.save_config)
        print(f'config without the PeftModel wrapper written to '
              f'{args.save_config}')
    return 0
