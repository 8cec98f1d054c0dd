"""mmengine's CheckpointHook with crash-safe retention."""
import difflib
import inspect
import os.path as osp
from typing import Any, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from vidft.registry import HOOKS

from ..checkpoint import atomic_write_text


@HOOKS.register_module(name='CheckpointHook')
class CheckpointHook(MMEngineCheckpointHook):
    """Save checkpoints as mmengine's ``CheckpointHook`` does, in a safer
    order.

    mmengine 0.10.7 deletes the oldest checkpoint before it writes the new
    one, so a crash while writing leaves one checkpoint fewer than
    ``max_keep_ckpts``. This hook writes first (atomically, through
    :meth:`vidft.engine.VidftRunner.save_checkpoint`), then deletes the
    expired file and rewrites ``last_checkpoint`` atomically. Deletion and
    the pointer file happen on rank 0 only. All arguments are mmengine's.

    mmengine hands any argument it does not know to
    ``runner.save_checkpoint`` at the first save, so a misspelt argument
    would otherwise fail only after the first epoch. This hook checks the
    arguments when training starts.
    """

    def before_train(self, runner: Any) -> None:
        self._check_save_arguments(runner)
        super().before_train(runner)

    def _check_save_arguments(self, runner: Any) -> None:
        accepted = inspect.signature(runner.save_checkpoint).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in accepted.values()):
            return
        unknown = sorted(set(self.args) - set(accepted))
        if not unknown:
            return
        known = [name for name in inspect.signature(
            MMEngineCheckpointHook.__init__).parameters
                 if name not in ('self', 'kwargs')]
        hints = [f'{name!r} (did you mean {close[0]!r}?)' if close else
                 repr(name) for name, close in
                 ((name, difflib.get_close_matches(name, known, n=1))
                  for name in unknown)]
        raise TypeError(
            'default_hooks.checkpoint got unknown arguments '
            f"{', '.join(hints)}; the arguments of CheckpointHook are "
            f'{known}')

    def _save_checkpoint_with_step(self, runner: Any, step: int,
                                   meta: dict) -> None:
        expired = self._record_step(runner, step)

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)

        if not is_main_process():
            return
        if expired is not None:
            self._remove_checkpoint(runner, expired)
        atomic_write_text(self.last_ckpt,
                          osp.join(runner.work_dir, 'last_checkpoint'))

    def _record_step(self, runner: Any, step: int) -> Optional[int]:
        """Add ``step`` to the kept checkpoints; return the step that falls
        out of the window, if any."""
        if self.max_keep_ckpts <= 0:
            return None
        # A step is saved twice when a new best score re-saves it.
        if self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step:
            return None
        expired = None
        if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
            expired = self.keep_ckpt_ids[0]
        # keep_ckpt_ids is a deque bounded by max_keep_ckpts.
        self.keep_ckpt_ids.append(step)
        runner.message_hub.update_info('keep_ckpt_ids',
                                       list(self.keep_ckpt_ids))
        return expired

    def _remove_checkpoint(self, runner: Any, step: int) -> None:
        path = self.file_backend.join_path(self.out_dir,
                                           self.filename_tmpl.format(step))
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):
            # DeepSpeed saves a checkpoint as a folder.
            self.file_backend.rmtree(path)
        else:
            return
        runner.logger.info(f'Removed expired checkpoint {path} '
                           f'(max_keep_ckpts={self.max_keep_ckpts})')
