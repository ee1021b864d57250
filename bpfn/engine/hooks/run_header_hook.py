"""A short header of the run on the console: what runs where, how."""
import os.path as osp
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from bpfn.registry import HOOKS

__all__ = ['RunHeaderHook']


def count_parameters(model: torch.nn.Module) -> int:
    """Parameters of a model's module tree (a wrapper's inner model).

    A distiller's frozen teacher lies outside its module tree and is not
    counted; its student and adapters are.

    Args:
        model (nn.Module): The runner's model.

    Returns:
        int: The number of parameter elements.
    """
    model = model.module if is_model_wrapper(model) else model
    return sum(p.numel() for p in model.parameters())


@HOOKS.register_module()
class RunHeaderHook(Hook):
    """Log a few lines about the run before it starts (console and file).

    Config file, work dir, log file, seed, torch CPU threads (and why that
    many), device, processes and backend when distributed, and the model's
    parameter count. MMEngine's environment
    and config dumps go to the log file only (see
    :class:`~bpfn.engine.console_log.FileOnlyFilter`).

    Args:
        threads (str, optional): How the tool chose the threads, e.g.
            ``'2 (physical cores)'`` (:func:`bpfn.utils.tool_utils.
            setup_threads`). Defaults to None (torch's current count).
    """

    priority = 'VERY_HIGH'

    def __init__(self, threads: Optional[str] = None) -> None:
        self.threads = threads

    def header(self, runner) -> str:
        """The header's lines.

        Args:
            runner (Runner): The runner.

        Returns:
            str: E.g. ``'config: configs/demo/bpfn_synthetic.py\\n  work
            dir: ...'``.
        """
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        params = count_parameters(model)
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device('cpu')
        if device.type == 'cuda':
            device_text = f'{device} ({torch.cuda.get_device_name(device)})'
        else:
            device_text = str(device)
        randomness = runner.cfg.get('randomness', None) or {}
        threads = self.threads or f'{torch.get_num_threads()} (torch)'
        log_file = osp.join(runner.log_dir, f'{runner.timestamp}.log')
        lines = [
            f'config: {runner.cfg.filename}',
            f'  work dir: {runner.work_dir}',
            f'  log file (with the environment and config): {log_file}',
            f'  seed: {runner.seed} (deterministic: '
            f'{bool(randomness.get("deterministic", False))})',
            f'  threads: {threads}',
            f'  device: {device_text}',
            *self._distributed(runner),
            f'  model: {type(model).__name__}, {params / 1e6:.2f}M '
            f'parameters ({params:,})',
        ]
        return '\n'.join(lines)

    @staticmethod
    def _distributed(runner) -> list:
        """``distributed: N processes (backend)`` under a launcher."""
        if not runner.distributed:
            return []
        import torch.distributed as torch_dist
        backend = torch_dist.get_backend() if torch_dist.is_initialized() \
            else 'not initialised'
        return [f'  distributed: {runner.world_size} processes '
                f'({backend})']

    def before_run(self, runner) -> None:
        """Log the header."""
        runner.logger.info(self.header(runner))
