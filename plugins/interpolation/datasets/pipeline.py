"""Building of dataset pipelines through vidft's transform registry."""
from typing import Callable, List, Sequence, Union

from vidft.registry import TRANSFORMS


def build_pipeline(pipeline: Sequence[Union[dict, Callable]]) -> List[Callable]:
    """Build every config of ``pipeline``; callables pass through.

    mmengine's ``BaseDataset`` would build them with mmengine's root
    registry. That registry finds plugin transforms (``'interpolation.X'``)
    only while a vidft default scope is active, so they are built here.
    """
    return [TRANSFORMS.build(step) if isinstance(step, dict) else step
            for step in pipeline]
