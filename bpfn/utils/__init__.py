from .checkpoint import (CheckpointError, extract_state_dict,
                         load_checkpoint_file, load_model_weights)

__all__ = [
    'CheckpointError', 'extract_state_dict', 'load_checkpoint_file',
    'load_model_weights'
]
