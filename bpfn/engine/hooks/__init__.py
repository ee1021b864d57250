"""Runner hooks of bpfn; each module registers its hooks in HOOKS."""
from .ail_error_range_hook import AILErrorRangeHook
from .eval_progress_hook import EvalProgressHook
from .fitnets_stage_hook import FitNetsStageHook
from .flow_visualization_hook import FlowVisualizationHook
from .graceful_stop_hook import (GracefulStopHook, TrainingInterrupted,
                                 graceful_worker_init_fn)
from .kd_weight_schedule_hook import KDWeightScheduleHook, kd_weight_factor
from .non_finite_loss_hook import NonFiniteLossHook
from .non_finite_prediction_hook import NonFinitePredictionHook
from .rng_state_hook import RNGStateHook, get_rng_state, set_rng_state
from .run_header_hook import RunHeaderHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .teacher_sync_hook import TeacherSyncHook, teacher_digest
from .training_summary_hook import TrainingSummaryHook

__all__ = [
    'AILErrorRangeHook', 'EvalProgressHook', 'FitNetsStageHook',
    'FlowVisualizationHook', 'GracefulStopHook', 'TrainingInterrupted',
    'graceful_worker_init_fn', 'KDWeightScheduleHook', 'kd_weight_factor',
    'NonFiniteLossHook', 'NonFinitePredictionHook', 'RNGStateHook',
    'get_rng_state', 'set_rng_state', 'RunHeaderHook', 'SafeCheckpointHook',
    'TeacherSyncHook', 'teacher_digest', 'TrainingSummaryHook'
]
