"""Converters from the raw datasets to bpfn's processed layouts."""
from .ft3d_converter import (FT3D_VARIANTS, convert_flyingthings3d,
                             convert_ft3d_frame, ft3d_pixels_to_points,
                             ft3d_raw_paths, list_ft3d_frames)
from .ft3d_mini import create_minimized_ft3d
from .kitti_converter import (check_p_rect, convert_kitti,
                              convert_kitti_scene, kitti_pixels_to_points,
                              load_disparity, load_optical_flow,
                              read_p_rect_02)
from .raw_io import (png_header, read_flo, read_flow, read_kitti_flow_png,
                     read_pfm, read_png, read_png16, remove_pair,
                     save_json_atomic, save_npy_atomic, save_pair)
from .summary import ConversionSummary

__all__ = [
    'FT3D_VARIANTS', 'convert_flyingthings3d', 'convert_ft3d_frame',
    'ft3d_pixels_to_points', 'ft3d_raw_paths', 'list_ft3d_frames',
    'create_minimized_ft3d', 'check_p_rect', 'convert_kitti',
    'convert_kitti_scene', 'kitti_pixels_to_points', 'load_disparity',
    'load_optical_flow', 'read_p_rect_02', 'png_header', 'read_flo',
    'read_flow', 'read_kitti_flow_png', 'read_pfm', 'read_png', 'read_png16',
    'remove_pair', 'save_json_atomic', 'save_npy_atomic', 'save_pair',
    'ConversionSummary'
]
