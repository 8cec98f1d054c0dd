"""The warning inferencers log when they run without a checkpoint."""
import logging

import torch.nn as nn

from vidft.models import warn_untrained


def test_warns_only_with_parameters(caplog):
    with caplog.at_level(logging.WARNING, logger='vidft.models'):
        warn_untrained(nn.Identity())
        assert caplog.records == []
        warn_untrained(nn.Linear(10, 10))
    assert len(caplog.records) == 1
    assert 'Linear runs with the 110 parameters' in caplog.records[0].getMessage()
