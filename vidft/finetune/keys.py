"""Checkpoint key changes applied before loading: key maps, drops, renames.

Each step returns the new state dict and records what it changed, so that
:class:`~vidft.finetune.report.LoadReport` can list every adaptation.
"""
import re
from collections import Counter
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from torch import Tensor

StateDict = Dict[str, Tensor]


def apply_key_map(state_dict: StateDict,
                  key_map: Callable[[StateDict], StateDict]
                  ) -> Tuple[StateDict, Dict[str, str]]:
    """Run a converter and return its output with the renames it made.

    A rename is recorded where the converter passed a tensor object through
    under a new key. Tensors that it rebuilt (transposed, split, merged)
    cannot be traced back and are not recorded.
    """
    mapped = key_map(dict(state_dict))
    if not isinstance(mapped, dict):
        raise TypeError(f'expected key_map to return a dict of tensors, got '
                        f'{type(mapped).__name__}')
    key_by_tensor = {id(value): key for key, value in state_dict.items()}
    renamed = {}
    for new_key, value in mapped.items():
        old_key = key_by_tensor.get(id(value))
        if old_key is not None and old_key != new_key:
            renamed[old_key] = new_key
    return mapped, renamed


def drop_keys(state_dict: StateDict, patterns: Sequence[str]
              ) -> Tuple[StateDict, List[str]]:
    """Remove keys in which any regex of ``patterns`` is found (re.search)."""
    if isinstance(patterns, str):
        patterns = (patterns,)
    compiled = [compile_regex(p, 'drop') for p in patterns]
    remaining, dropped = {}, []
    for key, value in state_dict.items():
        if any(regex.search(key) for regex in compiled):
            dropped.append(key)
        else:
            remaining[key] = value
    return remaining, dropped


def rename_keys(keys: Sequence[str], *, strip_prefix: Sequence[str],
                rename: Sequence[Tuple[str, str]], add_prefix: str
                ) -> Dict[str, str]:
    """Map each checkpoint key to its model key.

    The steps run in this order: each prefix of ``strip_prefix`` is removed
    once where a key starts with it, the ``(pattern, replacement)`` rules of
    ``rename`` run in order with :func:`re.sub`, then ``add_prefix`` is put
    in front.
    """
    if isinstance(strip_prefix, str):
        strip_prefix = (strip_prefix,)
    rules = []
    for rule in rename:
        if not (isinstance(rule, (tuple, list)) and len(rule) == 2):
            raise ValueError(f'expected rename rules as (pattern, '
                             f'replacement) pairs, got {rule!r}')
        rules.append((compile_regex(rule[0], 'rename'), rule[1]))

    mapping = {}
    for key in keys:
        new_key = key
        for prefix in strip_prefix:
            if prefix and new_key.startswith(prefix):
                new_key = new_key[len(prefix):]
        for regex, replacement in rules:
            new_key = regex.sub(replacement, new_key)
        mapping[key] = add_prefix + new_key

    collisions = [k for k, n in Counter(mapping.values()).items() if n > 1]
    if collisions:
        sources = [k for k, v in mapping.items() if v == collisions[0]]
        raise ValueError(
            f'renaming maps several checkpoint keys to {collisions[0]!r} '
            f'({", ".join(sources)}); make the rename rules or prefixes '
            'specific enough that each key stays unique, or drop the extra '
            'keys with drop=')
    return mapping


def suggest_prefix_fix(checkpoint_keys: Sequence[str],
                       model_keys: Sequence[str]) -> Optional[str]:
    """Return a hint when the keys differ only by a leading prefix."""
    model_set = set(model_keys)
    to_add: Counter = Counter()
    to_strip: Counter = Counter()
    for ckpt_key in checkpoint_keys:
        for model_key in model_set:
            if model_key.endswith('.' + ckpt_key):
                to_add[model_key[:-len(ckpt_key)]] += 1
            elif ckpt_key.endswith('.' + model_key):
                to_strip[ckpt_key[:-len(model_key)]] += 1

    best_add = to_add.most_common(1)[0] if to_add else None
    best_strip = to_strip.most_common(1)[0] if to_strip else None
    if best_add and (best_strip is None or best_add[1] >= best_strip[1]):
        prefix, count = best_add
        return (f"{count} checkpoint keys match model keys once "
                f"'{prefix}' is added in front: pass add_prefix='{prefix}'")
    if best_strip:
        prefix, count = best_strip
        return (f"{count} checkpoint keys match model keys once the prefix "
                f"'{prefix}' is removed: pass strip_prefix=('{prefix}',)")
    return None


def compile_regex(pattern: str, option: str) -> 're.Pattern[str]':
    """Compile ``pattern``, naming the option it came from when invalid."""
    try:
        return re.compile(pattern)
    except re.error as error:
        raise ValueError(f'invalid regular expression {pattern!r} in '
                         f'{option}=: {error}') from error
