"""Stop a run whose datasets, or whose checkpoint, number the classes
differently."""
from typing import Any, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from vidft.registry import HOOKS


class ClassNamesMismatchError(ValueError):
    """Two class lists of one run that should be the same differ."""


def _loop_classes(runner: Any, attribute: str) -> Optional[Tuple[str, ...]]:
    """Return the class names of the dataset of a loop that the runner has
    already built, or None.

    Reading ``runner.train_dataloader`` would build the training loop, and
    with it the training dataset, during a test run.
    """
    loop = getattr(runner, attribute, None)
    if not isinstance(loop, BaseLoop):
        return None
    dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return tuple(classes) if classes is not None else None


def _head_num_classes(model: Any) -> Optional[Tuple[str, int]]:
    """Return the name and ``num_classes`` of the model's ``cls_head``, the
    recognizers' classification head, or None without one."""
    model = getattr(model, 'module', model)  # DDP wraps the model
    for name, module in model.named_modules():
        num_classes = getattr(module, 'num_classes', None)
        if name.split('.')[-1] == 'cls_head' and isinstance(num_classes, int):
            return name, num_classes
    return None


def _mismatch(what: str, classes: Sequence[str], reference: str,
              expected: Sequence[str]) -> str:
    missing = [name for name in expected if name not in classes]
    extra = [name for name in classes if name not in expected]
    parts = []
    if missing:
        parts.append(f'missing {missing}')
    if extra:
        parts.append(f'extra {extra}')
    detail = ', '.join(parts) or 'the same names in another order'
    return (f'the {what} names {len(classes)} classes and the {reference} '
            f'{len(expected)} ({detail}), so label i means another class in '
            f'each: {what} {list(classes)}, {reference} {list(expected)}. '
            'Give every dataset the same class list with label_map=FILE '
            '(one class name per line), or put a folder for every class in '
            'each split')


@HOOKS.register_module()
class ClassNamesCheckHook(Hook):
    """Hook that raises :class:`ClassNamesMismatchError` before the first
    iteration when class indices would mean different classes.

    Datasets that derive their classes from the data (class folders, a CSV
    of class names) number them per split. A validation split that lacks a
    class therefore shifts every later label, and accuracy is computed
    against the wrong classes. This hook compares, whenever both lists are
    known:

    * the validation and test datasets with the training dataset, and the
      training dataset with the outputs of the model's ``cls_head``;
    * when resuming, the training dataset with the classes saved in the
      checkpoint (``meta['dataset_meta']['classes']``);
    * when testing or validating a checkpoint without training, the
      dataset with the checkpoint's classes.

    Loading weights with ``load_from`` for fine-tuning is not checked:
    there the new classes may differ by design.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner: Any) -> None:
        train = _loop_classes(runner, '_train_loop')
        if train is None:
            return
        head = _head_num_classes(runner.model)
        if head is not None and head[1] != len(train):
            name, num_classes = head
            raise ClassNamesMismatchError(
                f'the training dataset names {len(train)} classes '
                f'{list(train)}, but the model has {num_classes} outputs '
                f'({name}.num_classes); set model.{name}.num_classes='
                f'{len(train)}')
        for attribute, split in (('_val_loop', 'validation dataset'),
                                 ('_test_loop', 'test dataset')):
            classes = _loop_classes(runner, attribute)
            if classes is not None and classes != train:
                raise ClassNamesMismatchError(
                    _mismatch(split, classes, 'training dataset', train))

    def after_load_checkpoint(self, runner: Any, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
        saved = ((meta or {}).get('dataset_meta') or {}).get('classes')
        if saved is None:
            return
        saved = tuple(saved)
        if getattr(runner, 'is_resuming', False):
            checked = [('training dataset', '_train_loop')]
        elif not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            checked = [('test dataset', '_test_loop'),
                       ('validation dataset', '_val_loop')]
        else:
            return  # load_from before fine-tuning
        for split, attribute in checked:
            classes = _loop_classes(runner, attribute)
            if classes is not None and classes != saved:
                raise ClassNamesMismatchError(
                    _mismatch(split, classes, 'checkpoint', saved))
