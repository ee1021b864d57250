from .export import export_algorithms, use_export
from .furthest_point_sample import furthest_point_sample
from .gather import gather_points, group_points
from .interpolate import (interpolate_three_nn, three_interpolate,
                          three_nn_weights)
from .knn import knn, square_distance
from .neighbour_audit import NeighbourAudit, neighbour_audit
from .reference import reference_algorithms, use_reference
from .search_replay import SearchRecord, record_searches, replay_searches

__all__ = [
    'furthest_point_sample', 'gather_points', 'group_points', 'knn',
    'square_distance', 'three_nn_weights', 'three_interpolate',
    'interpolate_three_nn', 'reference_algorithms', 'use_reference',
    'export_algorithms', 'use_export', 'neighbour_audit', 'NeighbourAudit',
    'record_searches', 'replay_searches', 'SearchRecord'
]
from .warping import warp_backward  # noqa: E402

__all__ += ['warp_backward']
