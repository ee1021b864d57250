"""Registries of bpfn, children of MMEngine's root registries.

Every registry has the scope ``bpfn`` and knows where its classes are defined,
so configs need no ``custom_imports``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

RUNNERS = Registry(
    'runner', parent=MMENGINE_RUNNERS, scope='bpfn',
    locations=['bpfn.engine'])
LOOPS = Registry(
    'loop', parent=MMENGINE_LOOPS, scope='bpfn', locations=['bpfn.engine'])
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope='bpfn',
    locations=['bpfn.engine.hooks'])
LOG_PROCESSORS = Registry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, scope='bpfn',
    locations=['bpfn.engine'])
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope='bpfn',
    locations=['bpfn.datasets'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='bpfn',
    locations=['bpfn.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='bpfn',
    locations=['bpfn.datasets.transforms'])
FUNCTIONS = Registry(
    'function', parent=MMENGINE_FUNCTIONS, scope='bpfn',
    locations=['bpfn.datasets'])
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope='bpfn',
    locations=['bpfn.models'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='bpfn',
    locations=['bpfn.models'])
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope='bpfn',
    locations=['bpfn.models'])
OPTIMIZERS = Registry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, scope='bpfn',
    locations=['bpfn.engine'])
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='bpfn',
    locations=['bpfn.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope='bpfn',
    locations=['bpfn.engine'])
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope='bpfn',
    locations=['bpfn.engine'])
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope='bpfn',
    locations=['bpfn.evaluation'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, scope='bpfn',
    locations=['bpfn.evaluation'])
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope='bpfn',
    locations=['bpfn.models'])
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, scope='bpfn',
    locations=['bpfn.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, scope='bpfn',
    locations=['bpfn.visualization'])
