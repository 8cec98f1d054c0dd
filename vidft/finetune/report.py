"""The record of what :func:`vidft.finetune.load_pretrained` did to a model."""
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

from mmengine.logging import MMLogger

# Maximum number of keys written per log line; the total is always given.
MAX_LOGGED_KEYS = 10

LoggerLike = Union[logging.Logger, str, None]


def get_logger(logger: LoggerLike = None) -> logging.Logger:
    """Resolve ``logger`` to a :class:`logging.Logger`.

    ``None`` and ``'current'`` select mmengine's current logger, so messages
    reach the log file of a running :class:`~mmengine.runner.Runner`. Any
    other string is a name for :func:`logging.getLogger`.
    """
    if isinstance(logger, logging.Logger):
        return logger
    if logger is None or logger == 'current':
        return MMLogger.get_current_instance()
    if isinstance(logger, str):
        return logging.getLogger(logger)
    raise TypeError(f'expected a logging.Logger, a logger name or None, got '
                    f'{type(logger).__name__}')


def format_keys(keys: Sequence[str], limit: int = MAX_LOGGED_KEYS) -> str:
    """Join ``keys`` for a log line, showing at most ``limit`` of them."""
    shown = ', '.join(keys[:limit])
    if len(keys) > limit:
        shown += f', ... ({len(keys) - limit} more, {len(keys)} in total)'
    return shown


@dataclass
class LoadReport:
    """Record of the changes a pretrained-weight load made to a model.

    Every list contains state-dict keys of the model, except ``unexpected``
    (checkpoint keys after renaming) and ``dropped`` (checkpoint keys after
    ``key_map``, before prefixes and rename rules).

    Attributes:
        source: The weights as the caller named them, with the resolved file
            when it differs.
        loaded: Model keys copied from the checkpoint unchanged.
        missing: Model keys the checkpoint did not provide, which keep the
            model's own initialisation. Re-initialised heads are not repeated
            here.
        unexpected: Checkpoint keys that name nothing in the model.
        reinitialized: Head keys whose checkpoint shape differs from the
            model's, so they keep the model's own initialisation.
        renamed: Checkpoint key to model key, for every key whose name was
            changed by ``key_map``, a prefix or a rename rule.
        inflated: Model keys filled from a 2D tensor repeated over time.
        dropped: Checkpoint keys removed by a ``drop`` pattern.
        loaded_fraction: Share of the model's parameter elements (buffers not
            counted) that came from the checkpoint, loaded or inflated.
    """

    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    reinitialized: List[str] = field(default_factory=list)
    renamed: Dict[str, str] = field(default_factory=dict)
    inflated: List[str] = field(default_factory=list)
    dropped: List[str] = field(default_factory=list)
    loaded_fraction: float = 0.0

    def summary(self) -> str:
        """Return one line with the count of each kind of key."""
        return (f'Loaded pretrained weights from {self.source}: '
                f'{self.loaded_fraction:.1%} of model parameter elements '
                f'came from the checkpoint; loaded {len(self.loaded)}, '
                f'missing {len(self.missing)}, '
                f'unexpected {len(self.unexpected)}, '
                f're-initialised {len(self.reinitialized)}, '
                f'renamed {len(self.renamed)}, '
                f'inflated {len(self.inflated)}, '
                f'dropped {len(self.dropped)} keys')

    def log(self, logger: LoggerLike = None) -> None:
        """Write the summary and the key lists to ``logger``.

        Missing keys go to INFO and unexpected keys to WARNING. Each list is
        cut to :data:`MAX_LOGGED_KEYS` names and gives its total.
        """
        log = get_logger(logger)
        log.info(self.summary())
        if self.reinitialized:
            log.info('Re-initialised head keys, because their checkpoint '
                     'shape differs from the model: '
                     f'{format_keys(self.reinitialized)}')
        if self.inflated:
            log.info('Inflated 2D checkpoint tensors over time: '
                     f'{format_keys(self.inflated)}')
        if self.renamed:
            pairs = [f'{old} -> {new}' for old, new in self.renamed.items()]
            log.info(f'Renamed checkpoint keys: {format_keys(pairs)}')
        if self.dropped:
            log.info(f'Dropped checkpoint keys: {format_keys(self.dropped)}')
        if self.missing:
            log.info('Model keys missing from the checkpoint (they keep the '
                     f'model initialisation): {format_keys(self.missing)}')
        if self.unexpected:
            log.warning('Checkpoint keys that match no model key (ignored): '
                        f'{format_keys(self.unexpected)}')


def with_resolved_path(source: str, path: Optional[str]) -> str:
    """Name ``source`` for a report, adding the file it resolved to."""
    if path is None or path == source:
        return source
    return f'{source} ({path})'
