from .checkpoint import (CheckpointError, check_state_dict, checkpoint_problem,
                         checkpoint_state, extract_state_dict,
                         find_latest_checkpoint, is_complete_checkpoint,
                         is_distiller_state, list_checkpoints,
                         load_checkpoint_file, load_model_weights,
                         read_last_checkpoint, resolve_checkpoint,
                         resolve_teacher_checkpoint,
                         save_best_keys, select_checkpoint,
                         verify_checkpoint_archive, write_last_checkpoint)
from .fileio import (atomic_open, atomic_path, atomic_torch_save,
                     atomic_write_json, atomic_write_text, remove_temp_files,
                     sha256_file)
from .model_config import is_distiller, student_config
from .precision import full_float32
from .safe_globals import bpfn_safe_globals
from .work_dir_lock import WorkDirLock, WorkDirLockedError

__all__ = [
    'CheckpointError', 'check_state_dict', 'checkpoint_problem',
    'checkpoint_state', 'extract_state_dict', 'load_checkpoint_file',
    'load_model_weights', 'find_latest_checkpoint', 'is_complete_checkpoint',
    'is_distiller_state', 'list_checkpoints', 'read_last_checkpoint',
    'resolve_checkpoint', 'resolve_teacher_checkpoint', 'save_best_keys',
    'select_checkpoint', 'verify_checkpoint_archive',
    'write_last_checkpoint', 'atomic_open', 'atomic_path',
    'atomic_torch_save', 'atomic_write_json', 'atomic_write_text',
    'remove_temp_files', 'sha256_file', 'bpfn_safe_globals', 'WorkDirLock',
    'WorkDirLockedError', 'is_distiller', 'student_config', 'full_float32'
]
