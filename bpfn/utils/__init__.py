from .checkpoint import (CheckpointError, extract_state_dict,
                         find_latest_checkpoint, is_complete_checkpoint,
                         list_checkpoints, load_checkpoint_file,
                         load_model_weights, resolve_checkpoint)
from .fileio import atomic_open, atomic_torch_save, atomic_write_json
from .safe_globals import bpfn_safe_globals

__all__ = [
    'CheckpointError', 'extract_state_dict', 'load_checkpoint_file',
    'load_model_weights', 'find_latest_checkpoint', 'is_complete_checkpoint',
    'list_checkpoints', 'resolve_checkpoint', 'atomic_open',
    'atomic_torch_save', 'atomic_write_json', 'bpfn_safe_globals'
]
