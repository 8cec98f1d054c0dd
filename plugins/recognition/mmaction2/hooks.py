"""A hook that loads an mmaction2 checkpoint into the model of a run.

mmengine's ``load_from`` expects the model's own key names, so converted
configs load mmaction2 checkpoints with this hook instead.
"""
from mmengine.hooks import Hook

from ..registry import HOOKS
from .key_maps import load_mmaction2_checkpoint


@HOOKS.register_module()
class LoadMMAction2Checkpoint(Hook):
    """Load an mmaction2 recognizer checkpoint before training or testing.

    The weights are loaded once, in ``before_train``, ``before_val`` or
    ``before_test`` (whichever comes first). These run after the Runner has
    initialised the model's weights, so backbone ``pretrained`` weights
    cannot overwrite the checkpoint. A run that resumed from vidft's own
    checkpoint (iteration > 0 in ``before_train``) keeps the resumed
    weights, because the hook then skips loading.

    Args:
        checkpoint: An mmaction2 ``.pth`` file or a ``.safetensors`` file of
            its state dict.
        trust: Unpickle the file with ``weights_only=False``; only for files
            from a trusted source.
        strict: Raise when keys stay missing or unexpected.
    """

    # Before the other hooks of the same stage, so they see the weights.
    priority = 'VERY_HIGH'

    def __init__(self, checkpoint: str, trust: bool = False,
                 strict: bool = False) -> None:
        if not isinstance(checkpoint, str) or not checkpoint:
            raise ValueError(f'expected checkpoint as a file path, got '
                             f'{checkpoint!r}')
        self.checkpoint = checkpoint
        self.trust = trust
        self.strict = strict
        self._loaded = False

    def _load(self, runner) -> None:
        if self._loaded:
            return
        load_mmaction2_checkpoint(runner.model, self.checkpoint,
                                  strict=self.strict, trust=self.trust,
                                  logger=runner.logger)
        self._loaded = True

    def before_train(self, runner) -> None:
        if runner.iter > 0:
            # The Runner resumed a run before this stage; loading here would
            # replace the resumed weights.
            self._loaded = True
            return
        self._load(runner)

    def before_test(self, runner) -> None:
        self._load(runner)

    def before_val(self, runner) -> None:
        self._load(runner)


__all__ = ['LoadMMAction2Checkpoint']

