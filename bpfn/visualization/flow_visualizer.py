"""Runner-facing visualizer of scene flow samples."""
from typing import Optional

import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import Visualizer

from bpfn.registry import VISUALIZERS
from .flow_drawing import (DEFAULT_MAX_ERROR, ArrayLike, draw_flow_figure,
                           figure_to_rgb, save_figure)


@VISUALIZERS.register_module()
class FlowVisualizer(Visualizer):
    """Visualizer that draws scene flow samples and sends them to backends.

    A sample is drawn by :func:`bpfn.visualization.draw_flow_figure` (pc1
    coloured by flow direction with arrows, the camera view of pc2 and
    pc1 + flow, and pc1 coloured by the end-point error on a fixed scale);
    the picture goes to every vis backend (images under
    ``vis_image/`` of ``LocalVisBackend``, the Images tab of
    ``TensorboardVisBackend``) and, when asked, to a PNG file.

    Use it in a config with, for example::

        vis_backends = [dict(type='LocalVisBackend'),
                        dict(type='TensorboardVisBackend')]  # optional
        visualizer = dict(type='FlowVisualizer', vis_backends=vis_backends,
                          name='visualizer')

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        vis_backends (list[dict], optional): Backend configs.
        save_dir (str, optional): Folder of the backends' files.
        max_points (int, optional): Points drawn per cloud. Defaults to 4096.
        max_error (float): Top of the fixed end-point error colour scale
            (m). Defaults to 0.3 (the Outliers3D threshold).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 max_points: Optional[int] = 4096,
                 max_error: float = DEFAULT_MAX_ERROR) -> None:
        super().__init__(name=name, vis_backends=vis_backends,
                         save_dir=save_dir)
        if not max_error > 0:
            raise ValueError(
                f'FlowVisualizer: max_error must be > 0 (m), got {max_error}')
        self.max_points = max_points
        self.max_error = float(max_error)

    def draw_flow(self,
                  pc1: ArrayLike,
                  pc2: ArrayLike,
                  flow: ArrayLike,
                  gt_flow: Optional[ArrayLike] = None,
                  title: Optional[str] = None,
                  out_file: Optional[str] = None) -> np.ndarray:
        """Draw one sample; optionally write it as a PNG.

        Args:
            pc1 (Tensor | ndarray): First cloud, (N, 3).
            pc2 (Tensor | ndarray): Second cloud, (M, 3).
            flow (Tensor | ndarray): Flow to draw, (N, 3).
            gt_flow (Tensor | ndarray, optional): Ground truth (N, 3).
            title (str, optional): Figure title.
            out_file (str, optional): PNG written atomically.

        Returns:
            np.ndarray: The picture, RGB uint8 (H, W, 3).
        """
        import matplotlib.pyplot as plt
        fig = draw_flow_figure(pc1, pc2, flow, gt_flow, title,
                               self.max_points, self.max_error)
        try:
            image = figure_to_rgb(fig)
            if out_file is not None:
                save_figure(fig, out_file)
        finally:
            plt.close(fig)
        self.set_image(image)
        return image

    @master_only
    def add_flow_sample(self,
                        name: str,
                        pc1: ArrayLike,
                        pc2: ArrayLike,
                        flow: ArrayLike,
                        gt_flow: Optional[ArrayLike] = None,
                        step: int = 0,
                        out_file: Optional[str] = None) -> np.ndarray:
        """Draw a sample and send it to every vis backend.

        Args:
            name (str): Image name (e.g. the sample name).
            pc1, pc2, flow, gt_flow: As :meth:`draw_flow`.
            step (int): Global step. Defaults to 0.
            out_file (str, optional): Also write this PNG.

        Returns:
            np.ndarray: The picture, RGB uint8 (H, W, 3).
        """
        image = self.draw_flow(pc1, pc2, flow, gt_flow, name, out_file)
        self.add_image(name, image, step)
        return image
