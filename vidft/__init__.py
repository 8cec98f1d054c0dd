"""vidft: fine-tune pretrained models on video tasks.

Importing the package stays cheap: it loads no plugin and no task code. The
registries live in :mod:`vidft.registry`; task plugins load when a config names
their scope (see :mod:`vidft.plugins`).
"""
from .version import __version__

__all__ = ['__version__']
