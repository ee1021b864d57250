"""Hook that writes a picture of every tested scene flow sample."""
import os.path as osp
import re
from typing import Optional, Sequence

from mmengine.hooks import Hook

from bpfn.registry import HOOKS
from bpfn.visualization import (DEFAULT_MAX_ERROR, FlowVisualizer,
                                save_flow_png)

__all__ = ['FlowVisualizationHook']

_UNSAFE = re.compile(r'[^A-Za-z0-9._-]+')


def _file_stem(name: str) -> str:
    """A file name from a sample name (``a/b c`` -> ``a_b_c``)."""
    return _UNSAFE.sub('_', str(name)).strip('_') or 'sample'


@HOOKS.register_module()
class FlowVisualizationHook(Hook):
    """Write a PNG per test sample from the model's predictions.

    Each picture (see :func:`bpfn.visualization.draw_flow_figure`) shows
    pc1 coloured by the predicted flow's direction with arrows (bird's-eye
    view), the camera view of pc2 and pc1 + predicted flow, and pc1
    coloured by the end-point error on a fixed scale from 0 to
    ``max_error``, so the pictures of two checkpoints compare directly.
    ``tools/test.py --show-dir DIR`` adds
    ``dict(type='FlowVisualizationHook', out_dir=DIR)`` to
    ``custom_hooks``.

    The predictions are the model's ``predict`` outputs: dicts with ``pc1``
    (N, 3), ``pred_flow`` (N, 3), ``gt_flow`` (N, 3, optional) and
    ``sample_name``; ``pc2`` is taken from the output when present and from
    ``data_batch['inputs']['pc2']`` otherwise.

    Args:
        out_dir (str): Folder of the PNGs (``<sample_name>.png``).
        interval (int): Draw the samples of every ``interval``-th test
            iteration. Defaults to 1.
        max_points (int, optional): Points drawn per cloud. Defaults to 4096.
        add_to_backends (bool): Also send the pictures to the runner's vis
            backends (e.g. TensorBoard) when its visualizer is a
            :class:`FlowVisualizer` (which then draws with its own
            ``max_points`` and ``max_error``). Defaults to False.
        max_error (float): Top of the error colour scale (m). Defaults to
            0.3 (the Outliers3D threshold).
    """

    priority = 'NORMAL'

    def __init__(self,
                 out_dir: str,
                 interval: int = 1,
                 max_points: Optional[int] = 4096,
                 add_to_backends: bool = False,
                 max_error: float = DEFAULT_MAX_ERROR) -> None:
        if not out_dir:
            raise ValueError('FlowVisualizationHook needs an out_dir')
        if int(interval) < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        if not max_error > 0:
            raise ValueError(
                f'max_error must be > 0 (metres), got {max_error}')
        self.out_dir = out_dir
        self.interval = int(interval)
        self.max_points = max_points
        self.add_to_backends = add_to_backends
        self.max_error = float(max_error)
        self.num_written = 0

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence[dict]] = None) -> None:
        """Draw the samples of this iteration.

        Args:
            runner (Runner): The runner.
            batch_idx (int): Index of the batch in the test loop.
            data_batch (dict, optional): The batch (``inputs`` with ``pc2``).
            outputs (Sequence[dict], optional): The model's predictions.
        """
        if not outputs or not self.every_n_inner_iters(batch_idx,
                                                       self.interval):
            return
        batch_pc2 = None
        if data_batch is not None:
            batch_pc2 = data_batch.get('inputs', {}).get('pc2')
        for i, out in enumerate(outputs):
            pc2 = out.get('pc2')
            if pc2 is None:
                if batch_pc2 is None:
                    raise KeyError(
                        'FlowVisualizationHook: the prediction has no pc2 '
                        'and the batch has no inputs["pc2"]')
                pc2 = batch_pc2[i]
            name = out.get('sample_name', f'{batch_idx:06d}_{i:02d}')
            path = osp.join(self.out_dir, f'{_file_stem(name)}.png')
            gt_flow = out.get('gt_flow')
            visualizer = getattr(runner, 'visualizer', None)
            if self.add_to_backends and isinstance(visualizer,
                                                   FlowVisualizer):
                visualizer.add_flow_sample(
                    str(name), out['pc1'], pc2, out['pred_flow'], gt_flow,
                    step=batch_idx, out_file=path)
            else:
                save_flow_png(path, out['pc1'], pc2, out['pred_flow'],
                              gt_flow, str(name), self.max_points,
                              self.max_error)
            self.num_written += 1
