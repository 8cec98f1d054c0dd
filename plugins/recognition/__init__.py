"""Video recognition plugin of vidft (scope ``recognition``).

Importing the package registers its components under the scope
``recognition``: the recognizers ``recognition.Recognizer2D`` (TSN, TSM) and
``recognition.Recognizer3D``, the backbones ``recognition.ResNet3d`` and
``recognition.TorchvisionVideoBackbone``, and what the submodules below add.
"""
# Submodules that register components. Add new ones below, after registry,
# because the others register into it.
from . import registry  # noqa: F401  (isort: skip)
from . import models  # noqa: F401
from . import datasets  # noqa: F401
from . import inference  # noqa: F401
from . import mmaction2  # noqa: F401
