"""Converters from the raw datasets to bpfn's processed layouts."""
from .ft3d_converter import (convert_flyingthings3d, convert_ft3d_frame,
                             ft3d_pixels_to_points, ft3d_raw_paths)
from .ft3d_mini import create_minimized_ft3d
from .kitti_converter import (convert_kitti, convert_kitti_scene,
                              kitti_pixels_to_points, load_disparity,
                              load_optical_flow, read_p_rect_02)
from .raw_io import (read_flo, read_flow, read_pfm, read_png, save_json_atomic,
                     save_npy_atomic)

__all__ = [
    'convert_flyingthings3d', 'convert_ft3d_frame', 'ft3d_pixels_to_points',
    'ft3d_raw_paths', 'create_minimized_ft3d', 'convert_kitti',
    'convert_kitti_scene', 'kitti_pixels_to_points', 'load_disparity',
    'load_optical_flow', 'read_p_rect_02', 'read_flo', 'read_flow', 'read_pfm',
    'read_png', 'save_json_atomic', 'save_npy_atomic'
]
