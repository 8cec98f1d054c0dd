"""Hooks of the data layer. Importing this module registers them in
:data:`vidft.registry.HOOKS`."""
from typing import Any, Dict, Iterator, Optional

from mmengine.hooks import Hook

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
    WARNING), logs the count of the epoch, and stores it in the message hub
    as ``{mode}/bad_samples``, so the logger hook writes it with the other
    scalars. Datasets without ``report_bad_samples`` are ignored.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self) -> None:
        #: Bad-sample failures per mode ('train', 'val', 'test') so far.
        self.totals: Dict[str, int] = {}
        self._training = False

    def before_train(self, runner: Any) -> None:
        self._training = True

    def after_train(self, runner: Any) -> None:
        self._training = False

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
        return f'{mode} epoch {runner.epoch}'
