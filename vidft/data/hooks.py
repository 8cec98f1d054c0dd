"""Hooks of the data layer. Importing this module registers them in
:data:`vidft.registry.HOOKS`."""
from typing import Any, Dict, Iterator, Mapping, Optional

from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop

from ..registry import HOOKS


def _bad_sample_datasets(dataset: Any) -> Iterator[Any]:
    """Yield ``dataset`` and the datasets that wrappers such as
    ``ConcatDataset`` and ``RepeatDataset`` contain, where they count bad
    samples (have ``report_bad_samples``)."""
    if hasattr(dataset, 'report_bad_samples'):
        yield dataset
        return
    for child in getattr(dataset, 'datasets', ()) or ():
        yield from _bad_sample_datasets(child)
    inner = getattr(dataset, 'dataset', None)
    if inner is not None and inner is not dataset:
        yield from _bad_sample_datasets(inner)


@HOOKS.register_module()
class BadSampleReportHook(Hook):
    """Report the samples that failed to load at the end of each train, val
    and test epoch.

    Calls ``report_bad_samples()`` of the loop's dataset (see
    :class:`vidft.data.datasets.BaseVideoDataset`, which logs the files at
    WARNING), logs the count of the epoch with mmengine's 1-based epoch
    number, and stores it in the message hub as ``{mode}/bad_samples``, so
    the logger hook writes it with the other scalars. During a train epoch,
    ``train/bad_samples`` is the count of that epoch so far, read from the
    dataset's ``count_unreported_bad_samples()`` after every iteration. An
    iteration-based loop runs one epoch, so its count covers the whole run.
    Datasets without ``report_bad_samples`` are ignored.
    """

    # Above LoggerHook (BELOW_NORMAL), so that the log line of an iteration
    # or of a val or test epoch shows the count of that epoch.
    priority = 'NORMAL'

    def __init__(self) -> None:
        #: Bad-sample failures per mode ('train', 'val', 'test') so far.
        self.totals: Dict[str, int] = {}
        self._training = False

    def before_train(self, runner: Any) -> None:
        self._training = True

    def after_train(self, runner: Any) -> None:
        self._training = False

    def after_train_iter(self, runner: Any, batch_idx: int,
                         data_batch: Any = None,
                         outputs: Optional[Mapping[str, Any]] = None) -> None:
        datasets = [
            dataset for dataset in _bad_sample_datasets(
                getattr(runner.train_dataloader, 'dataset', None))
            if hasattr(dataset, 'count_unreported_bad_samples')]
        if datasets:
            count = sum(int(dataset.count_unreported_bad_samples())
                        for dataset in datasets)
            runner.message_hub.update_scalar('train/bad_samples', count)

    def after_train_epoch(self, runner: Any) -> None:
        self._report(runner, 'train', runner.train_dataloader)

    def after_val_epoch(self, runner: Any,
                        metrics: Optional[Dict[str, float]] = None) -> None:
        self._report(runner, 'val', runner.val_dataloader)

    def after_test_epoch(self, runner: Any,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        self._report(runner, 'test', runner.test_dataloader)

    def _report(self, runner: Any, mode: str, dataloader: Any) -> int:
        datasets = list(_bad_sample_datasets(getattr(dataloader, 'dataset',
                                                     None)))
        if not datasets:
            return 0
        count = sum(int(dataset.report_bad_samples()) for dataset in datasets)
        self.totals[mode] = self.totals.get(mode, 0) + count
        runner.message_hub.update_scalar(f'{mode}/bad_samples', count)
        # The dataset has already named the files at WARNING.
        runner.logger.info(
            f'{self._describe_epoch(runner, mode)}: {count} sample loads '
            f'failed and were replaced ({self.totals[mode]} in this run)')
        return count

    def _describe_epoch(self, runner: Any, mode: str) -> str:
        # Reading runner.epoch builds the train loop and its dataset, which
        # may not exist for a test run or a validation outside training.
        if mode == 'test' or not self._training:
            return mode
        if isinstance(runner.train_loop, IterBasedTrainLoop):
            where = 'up to' if mode == 'train' else 'at'
            return f'{mode} {where} iteration {runner.iter}'
        # mmengine counts epochs from 1 in its logs. runner.epoch is still
        # the 0-based index in after_train_epoch, and already counts the
        # finished epoch when validation runs.
        epoch = runner.epoch + 1 if mode == 'train' else runner.epoch
        return f'{mode} epoch {epoch}'
