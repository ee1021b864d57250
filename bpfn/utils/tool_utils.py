"""Argument handling shared by ``tools/train.py`` and ``tools/test.py``."""
import argparse
import difflib
import inspect
import math
import os
import os.path as osp
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config, DictAction

#: Prefix of a ``--cfg-options`` key that adds a new top-level key on
#: purpose (``+my_key=1``); other top-level keys must exist.
ADD_KEY_PREFIX = '+'
#: Top-level keys the runners read that a config may leave out.
RUNNER_KEYS = ('runner_type', 'unsafe_load', 'launcher', 'work_dir',
               'load_from', 'resume', 'custom_imports',
               'find_unused_parameters', 'model_wrapper_cfg', 'gpu_ids')


class ConfigError(ValueError):
    """A config or ``--cfg-options`` entry that is not valid."""


def known_top_level_keys(cfg: Config) -> List[str]:
    """Top-level keys ``--cfg-options`` may set without the ``+`` prefix.

    The config's own keys, the arguments of MMEngine's ``Runner`` and the
    few other keys bpfn's runner and tools read (:data:`RUNNER_KEYS`).

    Args:
        cfg (Config): The loaded config.

    Returns:
        list[str]: The keys, sorted.
    """
    from mmengine.runner import Runner
    keys = set(cfg.keys()) | set(RUNNER_KEYS)
    keys |= {name for name in inspect.signature(Runner.__init__).parameters
             if name != 'self'}
    return sorted(keys)


def check_cfg_options(cfg: Config, options: Dict[str, Any]
                      ) -> Dict[str, Any]:
    """Refuse ``--cfg-options`` whose top-level key the config lacks.

    A typo such as ``trian_cfg.max_epochs=1`` would otherwise add a key
    nothing reads, and train with the old value. A key prefixed with
    ``+`` (``+my_key.a=1``) is added on purpose; the prefix is removed.

    Args:
        cfg (Config): The loaded config.
        options (dict): Parsed ``--cfg-options`` (``key.path -> value``).

    Returns:
        dict: The options to merge, prefixes removed.

    Raises:
        ConfigError: Naming the unknown key, a close match and the prefix.
    """
    known = known_top_level_keys(cfg)
    merged = {}
    for option, value in options.items():
        if option.startswith(ADD_KEY_PREFIX):
            option = option[len(ADD_KEY_PREFIX):]
            if not option or option.startswith('.'):
                raise ConfigError(
                    f'--cfg-options: {ADD_KEY_PREFIX}{option} names no key')
            merged[option] = value
            continue
        top = option.split('.', 1)[0]
        if top not in known:
            close = difflib.get_close_matches(top, known, n=1, cutoff=0.6)
            hint = f' (did you mean {close[0]!r}?)' if close else ''
            raise ConfigError(
                f'--cfg-options: {top!r} (in {option}) is not a top-level '
                f'key of the config{hint}; to add a new key on purpose, '
                f'write it as {ADD_KEY_PREFIX}{option}=...')
        merged[option] = value
    return merged


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and more.

    Also ``--unsafe-load`` (full unpickling of trusted checkpoints) and
    ``--threads`` (:func:`add_threads_arg`).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--work-dir',
        help='folder of logs and checkpoints; defaults to '
        'work_dirs/<config name>')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. model.width_mult=0.5 '
        'train_cfg.max_epochs=10; a top-level key must exist in the config '
        'unless prefixed with + (+my_key=1 adds it on purpose)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher (pytorch: torchrun)')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='allow full unpickling of checkpoints (resume, load_from, '
        'test): it can run code, use it only for files you trust')
    add_threads_arg(parser)
    # torchrun sets LOCAL_RANK; older launchers pass --local-rank.
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (torch CPU threads, see :func:`setup_threads`).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--threads', type=int, default=None, metavar='N',
        help='torch CPU threads of this process (default: OMP_NUM_THREADS '
        'when set, else the physical cores not busy with other work, '
        'divided among the processes of this machine under torchrun)')


def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads not counted).

    Counts the distinct (socket, core id) pairs of the CPUs in
    ``os.sched_getaffinity`` from ``/proc/cpuinfo``; where that is not
    readable, the allowed (else all) logical CPUs.

    Returns:
        int: At least 1.
    """
    allowed = (os.sched_getaffinity(0)
               if hasattr(os, 'sched_getaffinity') else None)
    cores, cpu, socket = set(), None, None
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key == 'processor':
                    cpu, socket = int(value), None
                elif key == 'physical id':
                    socket = value.strip()
                elif key == 'core id' and (allowed is None or cpu in allowed):
                    cores.add((socket, value.strip()))
    except (OSError, ValueError):
        cores = set()
    if cores:
        return len(cores)
    return max(1, len(allowed) if allowed else (os.cpu_count() or 1))


def busy_cores(interval: float = 0.2) -> float:
    """Cores kept busy by other processes, measured over ``interval`` s.

    Reads the busy and total CPU time of the whole machine from
    ``/proc/stat`` twice while this process sleeps, so its own work does
    not count.

    Args:
        interval (float): Seconds between the two readings.
            Defaults to 0.2.

    Returns:
        float: Busy logical CPUs (0.0 where ``/proc/stat`` is not
        readable).
    """
    import time

    def read() -> Optional[Tuple[int, int, int]]:
        try:
            with open('/proc/stat') as f:
                fields = [int(v) for v in f.readline().split()[1:]]
                cpus = sum(1 for line in f if line.startswith('cpu')
                           and line[3:4].isdigit())
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle, cpus

    first = read()
    time.sleep(interval)
    second = read()
    if first is None or second is None or second[0] <= first[0]:
        return 0.0
    total = second[0] - first[0]
    busy = total - (second[1] - first[1])
    return max(0.0, busy / total * second[2])


def choose_threads(requested: Optional[int] = None,
                   environ: Optional[Dict[str, str]] = None,
                   cores: Optional[int] = None,
                   busy: Optional[float] = None) -> Tuple[int, str]:
    """How many torch CPU threads a tool uses, and why.

    In order: ``--threads``; ``OMP_NUM_THREADS`` when set (as torch itself
    reads it); else the physical cores that other processes do not keep
    busy (:func:`busy_cores`, rounded; at least 1), shared under
    ``torchrun`` among the processes of this machine (``LOCAL_WORLD_SIZE``,
    else ``WORLD_SIZE`` > 1; at least 1 each). Busy cores are left out
    because every parallel operator waits for all its threads: a thread
    that shares its core with another job stalls the others (on 2 busy
    cores the demo ran 5 times slower with 2 threads than with 1).

    Args:
        requested (int, optional): ``--threads``; None for the default.
        environ (dict, optional): Environment. Defaults to ``os.environ``.
        cores (int, optional): Physical cores. Defaults to
            :func:`physical_cores`.
        busy (float, optional): Cores busy with other work. Defaults to
            :func:`busy_cores`.

    Returns:
        tuple[int, str]: The threads and the reason, e.g.
        ``(2, 'physical cores')`` or ``(1, '2 physical cores, 1.9 busy with
        other work')``.

    Raises:
        ValueError: If ``requested`` or ``OMP_NUM_THREADS`` is not a
            positive integer.
    """
    environ = os.environ if environ is None else environ
    if requested is not None:
        if requested < 1:
            raise ValueError(f'--threads must be at least 1, got {requested}')
        return requested, '--threads'
    omp = environ.get('OMP_NUM_THREADS', '').strip()
    if omp:
        if not omp.isdigit() or int(omp) < 1:
            raise ValueError(
                f'OMP_NUM_THREADS={omp!r} is not a positive integer')
        return int(omp), 'OMP_NUM_THREADS'
    cores = physical_cores() if cores is None else cores
    busy = busy_cores() if busy is None else busy
    free = max(1, min(cores, cores - int(round(busy))))
    why = f'{cores} physical cores' if free == cores else \
        f'{cores} physical cores, {busy:.1f} busy with other work'
    for key in ('LOCAL_WORLD_SIZE', 'WORLD_SIZE'):
        value = environ.get(key, '').strip()
        if value.isdigit() and int(value) > 1:
            procs = int(value)
            return (max(1, free // procs),
                    f'{why} / {procs} processes ({key})')
        if value.isdigit():
            break
    return free, 'physical cores' if free == cores else why


def setup_threads(requested: Optional[int] = None) -> Tuple[int, str]:
    """Set torch's CPU threads for this process and its workers.

    Calls ``torch.set_num_threads`` with :func:`choose_threads` and sets
    ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS`` to the same number, so that
    processes started from here (data-loader workers) inherit it.

    Args:
        requested (int, optional): ``--threads``; None for the default.

    Returns:
        tuple[int, str]: The threads and why, logged by the tools as
        ``threads: N (why)``.
    """
    import torch
    threads, why = choose_threads(requested)
    torch.set_num_threads(threads)
    os.environ['OMP_NUM_THREADS'] = str(threads)
    os.environ['MKL_NUM_THREADS'] = str(threads)
    return threads, why


def config_name(path: str) -> str:
    """The config's file name without extension (the default work dir)."""
    return osp.splitext(osp.basename(path))[0]


def load_config(args: argparse.Namespace) -> Config:
    """Load the config, merge ``--cfg-options``, set launcher and work dir.

    The work dir is ``--work-dir``, else the config's ``work_dir``, else
    ``work_dirs/<config name>``. The distributed backend is ``nccl`` with
    CUDA and ``gloo`` otherwise, unless the options set it.

    Args:
        args (argparse.Namespace): Parsed arguments with ``config``,
            ``work_dir``, ``cfg_options`` and ``launcher``.

    Returns:
        Config: The config to build the runner from.
    """
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(getattr(args, 'local_rank', 0))
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        args.cfg_options = check_cfg_options(cfg, args.cfg_options)
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    cfg.unsafe_load = bool(getattr(args, 'unsafe_load', False)
                           or cfg.get('unsafe_load', False))
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', config_name(args.config))
    backend_set = bool(args.cfg_options) and any(
        k.startswith('env_cfg.dist_cfg') for k in args.cfg_options)
    if not backend_set:
        import torch
        env_cfg = cfg.setdefault('env_cfg', {})
        dist_cfg = env_cfg.setdefault('dist_cfg', {})
        dist_cfg['backend'] = 'nccl' if torch.cuda.is_available() else 'gloo'
    if cfg.launcher != 'none':
        setup_cpu_distributed(cfg)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Make ``--launcher pytorch`` work without CUDA (gloo, CPU DDP).

    MMEngine's ``init_dist`` always selects a CUDA device, and its default
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which CPU modules
    refuse. Without CUDA this starts the process group here (the runner
    then keeps it) with ``env_cfg.dist_cfg`` (backend ``gloo``, optional
    ``timeout`` in seconds) and sets ``model_wrapper_cfg`` to
    ``MMDistributedDataParallel`` with ``device_ids=None``. With CUDA
    nothing changes.

    Args:
        cfg (Config): The config (``launcher`` set).
    """
    import datetime

    import torch
    import torch.distributed as torch_dist
    if torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {cfg.launcher} needs CUDA; without it only '
            '--launcher pytorch (torchrun, tools/dist_train.sh) is supported')
    dist_cfg = dict(cfg.get('env_cfg', {}).get('dist_cfg', {}) or {})
    backend = dist_cfg.get('backend', 'gloo')
    if backend != 'gloo':
        raise ValueError(f'env_cfg.dist_cfg.backend={backend!r} needs CUDA; '
                         "use 'gloo' on CPU")
    if not torch_dist.is_initialized():
        kwargs = {}
        if dist_cfg.get('timeout') is not None:
            kwargs['timeout'] = datetime.timedelta(
                seconds=int(dist_cfg['timeout']))
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(cfg.get('model_wrapper_cfg', None) or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       bool(cfg.get('find_unused_parameters', False)))
    cfg.model_wrapper_cfg = wrapper


def use_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to mixed precision, keeping the guard.

    ``FiniteLossOptimWrapper`` (or no type) becomes
    ``FiniteLossAmpOptimWrapper`` (NaN/inf guard kept), any other type
    MMEngine's ``AmpOptimWrapper``; ``loss_scale`` defaults to
    ``'dynamic'``.

    Args:
        cfg (Config): The config; ``optim_wrapper`` is changed in place.
    """
    wrapper = cfg.optim_wrapper
    if wrapper.get('type', 'FiniteLossOptimWrapper') in (
            'FiniteLossOptimWrapper', 'FiniteLossAmpOptimWrapper'):
        wrapper.type = 'FiniteLossAmpOptimWrapper'
    else:
        wrapper.type = 'AmpOptimWrapper'
        wrapper.pop('non_finite', None)
        wrapper.pop('max_skips', None)
    wrapper.setdefault('loss_scale', 'dynamic')


def add_custom_hook(cfg: Config, hook: dict) -> None:
    """Append a hook to ``cfg.custom_hooks`` unless one of its type is there.

    Args:
        cfg (Config): The config.
        hook (dict): Hook config with ``type``.
    """
    hooks: List[dict] = list(cfg.get('custom_hooks', None) or [])
    hooks = [h for h in hooks if h.get('type') != hook['type']]
    hooks.append(hook)
    cfg.custom_hooks = hooks


def use_tensorboard(cfg: Config) -> None:
    """Add ``TensorboardVisBackend`` beside the config's visualizer backends.

    The other backends stay (``LocalVisBackend`` writes the
    ``scalars.json`` that ``analyze_logs.py`` reads). TensorBoard files go
    to ``<work dir>/<timestamp>/vis_data``.

    Args:
        cfg (Config): The config; ``visualizer.vis_backends`` is changed.

    Raises:
        ConfigError: If the ``tensorboard`` package is not installed (the
            message says how to install it).
    """
    try:
        import tensorboard  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            '--tensorboard needs the tensorboard package: pip install '
            'tensorboard (or pip install -e .[optional])') from exc
    visualizer = cfg.get('visualizer', None)
    if visualizer is None:
        raise ConfigError('--tensorboard: the config has no visualizer')
    backends = list(visualizer.get('vis_backends', None) or [])
    if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
        backends.append(dict(type='TensorboardVisBackend'))
    visualizer['vis_backends'] = backends
    cfg.vis_backends = backends


def add_console_hooks(cfg: Config, threads: str, train: bool) -> None:
    """Add the hooks that tell the user what runs: header, progress, summary.

    :class:`~bpfn.engine.hooks.RunHeaderHook` (with ``threads``),
    :class:`~bpfn.engine.hooks.EvalProgressHook` and, for training,
    :class:`~bpfn.engine.hooks.TrainingSummaryHook`, each unless the
    config's ``custom_hooks`` already hold one (the header is replaced, to
    carry ``threads``).

    Args:
        cfg (Config): The config.
        threads (str): E.g. ``'2 (physical cores)'``.
        train (bool): Whether the tool trains.
    """
    add_custom_hook(cfg, dict(type='RunHeaderHook', threads=threads))
    present = {h.get('type') for h in cfg.get('custom_hooks', None) or []}
    wanted = ['EvalProgressHook'] + (['TrainingSummaryHook'] if train
                                     else [])
    for name in wanted:
        if name not in present:
            add_custom_hook(cfg, dict(type=name))


def build_runner(cfg: Config):
    """Build the runner named by ``cfg.runner_type`` (or MMEngine's).

    Args:
        cfg (Config): The config.

    Returns:
        Runner: The runner.
    """
    import bpfn.engine  # noqa: F401  (registers BPFNRunner and hooks)
    from bpfn.registry import RUNNERS
    if 'runner_type' in cfg:
        runner_cls = RUNNERS.get(cfg.runner_type)
        if runner_cls is None:
            raise KeyError(f'runner_type {cfg.runner_type!r} is not a '
                           'registered runner (bpfn has BPFNRunner)')
        return runner_cls.from_cfg(cfg)
    from mmengine.runner import Runner
    return Runner.from_cfg(cfg)


def resolve_resume(cfg: Config, resume: Optional[str]) -> Optional[str]:
    """Point the config at the checkpoint to resume from.

    Args:
        cfg (Config): The config (``work_dir`` set); ``resume`` and
            ``load_from`` are set.
        resume (str, optional): ``'auto'`` for the newest complete
            checkpoint of the work dir, a checkpoint file or a work dir;
            None to not resume.

    Returns:
        str | None: The checkpoint that training resumes from.

    Raises:
        CheckpointError: If the work dir holds no complete checkpoint.
    """
    from mmengine.logging import print_log

    from bpfn.utils.checkpoint import (CheckpointError,
                                       find_latest_checkpoint,
                                       resolve_checkpoint)
    if resume is None:
        return None

    def warn(msg: str) -> None:
        print_log(msg, logger='current', level=30)

    if resume == 'auto':
        from bpfn.utils.work_dir_lock import LOCK_NAME
        work_dir = cfg.work_dir
        if not osp.isdir(work_dir) or not [
                n for n in os.listdir(work_dir) if n != LOCK_NAME]:
            raise CheckpointError(
                f'--resume: the work dir {work_dir} is empty or missing, '
                'there is no checkpoint to resume from; train without '
                '--resume first, or pass --resume PATH')
        path = find_latest_checkpoint(work_dir, warn)
    else:
        path = resolve_checkpoint(resume, warn)
    print_log(f'resuming from {path}', logger='current')
    cfg.resume = True
    cfg.load_from = path
    return path


def split_metrics(metrics: dict, datasets: List[str]) -> dict:
    """Per-dataset metrics from the evaluator's flat keys.

    Args:
        metrics (dict): ``EPE3D`` ... of the first dataset and, with several
            datasets, ``<dataset>/EPE3D`` ...
        datasets (list[str]): Dataset names in evaluation order.

    Returns:
        dict: Dataset name to its metrics.
    """
    per_dataset = {}
    for name in datasets:
        prefixed = {k[len(name) + 1:]: v for k, v in metrics.items()
                    if k.startswith(f'{name}/')}
        per_dataset[name] = prefixed
    if datasets and not per_dataset[datasets[0]]:
        per_dataset[datasets[0]] = {
            k: v for k, v in metrics.items() if '/' not in k}
    if not datasets:
        per_dataset['SceneFlow'] = {
            k: v for k, v in metrics.items() if '/' not in k}
    return per_dataset


class NonFiniteResultError(ValueError):
    """A test produced NaN or infinite predictions or metrics."""


def non_finite_results(result: dict, predictions: Dict[str, dict]
                       ) -> List[str]:
    """Describe the NaN / inf values of a test result, one line each.

    Args:
        result (dict): The result of :func:`test_checkpoint` (``metrics``
            and ``zero_flow`` per dataset).
        predictions (dict): Per dataset, ``count`` / ``total`` / ``samples``
            of the samples with non-finite predicted flow
            (:class:`bpfn.engine.hooks.NonFinitePredictionHook`).

    Returns:
        list[str]: E.g. ``'Synthetic: EPE3D is nan'`` and
        ``'Synthetic: 4 of 4 samples have non-finite predicted flow (first:
        a, b)'``; empty if everything is finite.
    """
    problems = []
    for dataset, entry in predictions.items():
        if entry.get('count'):
            problems.append(
                f'{dataset}: {entry["count"]} of {entry["total"]} samples '
                'have non-finite predicted flow (first: '
                f'{", ".join(entry["samples"])})')
    for section, suffix in (('metrics', ''), ('zero_flow', ' (zero-flow)')):
        for dataset, values in result[section].items():
            for key, value in values.items():
                if value is not None and not math.isfinite(value):
                    problems.append(f'{dataset}: {key}{suffix} is {value}')
    return problems


def _nulls(result: dict, predictions: Dict[str, dict]) -> dict:
    """``result`` with every NaN / inf metric replaced by None, and every
    metric of a dataset with non-finite predictions (an accuracy over NaN
    predictions means nothing)."""
    out = dict(result)
    broken = {ds for ds, entry in predictions.items() if entry.get('count')}
    for section in ('metrics', 'zero_flow'):
        out[section] = {
            ds: {k: v if v is None or (math.isfinite(v) and (
                section == 'zero_flow' or ds not in broken)) else None
                 for k, v in values.items()}
            for ds, values in result[section].items()}
    return out


def test_checkpoint(cfg: Config, checkpoint: str, name: str,
                    out: Optional[str] = None,
                    experiment: Optional[str] = None,
                    allow_nonfinite: bool = False) -> dict:
    """Test a checkpoint, print the tables and optionally save JSON.

    Predictions and metrics are checked: NaN or infinite values raise
    :class:`NonFiniteResultError` naming each dataset and metric (after
    the table is printed, before anything is written) unless
    ``allow_nonfinite``, which writes them as ``null`` (all metrics of a
    dataset with non-finite predictions). The JSON file is strict JSON (no
    ``NaN`` / ``Infinity``).

    Args:
        cfg (Config): Config from :func:`load_config`.
        checkpoint (str): Checkpoint file or work dir (its best checkpoint,
            else its newest: :func:`bpfn.utils.select_checkpoint`).
        name (str): Config file stored in the JSON.
        out (str, optional): JSON output path (written atomically).
        experiment (str, optional): Experiment name stored in the JSON.
            Defaults to None (the config file name without ``.py``).
        allow_nonfinite (bool): Keep going on non-finite results (with a
            warning), writing them as ``null``. Defaults to False.

    Returns:
        dict: The results, in the schema of the JSON file::

            {"config": str, "checkpoint": str,
             "metrics": {dataset: {"EPE3D": float, "ACC3DS": float,
                                   "ACC3DR": float, "Outliers3D": float,
                                   "EPE2D": float, "ACC2D": float}},
             "zero_flow": {dataset: {"EPE3D": float}},
             "experiment": str}

        With ``allow_nonfinite`` a non-finite value is None (``null``).

    Raises:
        NonFiniteResultError: On non-finite predictions or metrics, unless
            ``allow_nonfinite``.
    """
    from mmengine.dist import is_main_process
    from mmengine.logging import print_log

    from bpfn.engine.hooks.non_finite_prediction_hook import NON_FINITE_KEY
    from bpfn.engine.hooks.zero_flow_baseline_hook import ZERO_FLOW_KEY
    from bpfn.evaluation import format_metrics_table
    from bpfn.evaluation.metrics.scene_flow_metric import METRIC_TITLES
    from bpfn.utils.checkpoint import save_best_keys, select_checkpoint
    from bpfn.utils.fileio import atomic_write_json

    def warn(msg: str) -> None:
        print_log(msg, logger='current', level=30)

    path, why = select_checkpoint(checkpoint, warn, save_best_keys(cfg))
    print_log(f'testing {path}: {why}', logger='current')
    cfg.load_from = path
    cfg.resume = False
    add_custom_hook(cfg, dict(type='ZeroFlowBaselineHook'))
    add_custom_hook(cfg, dict(type='NonFinitePredictionHook'))
    runner = build_runner(cfg)
    console = getattr(runner, 'console_filter', None)
    if console is not None:
        # The table is printed once below, with the checkpoint and the
        # zero-flow baseline; the metric's own table goes to the log file.
        console.hide('Scene flow results')
    metrics = runner.test()
    baselines = dict(runner.message_hub.get_info(ZERO_FLOW_KEY) or {})
    predictions = dict(runner.message_hub.get_info(NON_FINITE_KEY) or {})
    per_dataset = split_metrics(dict(metrics), list(baselines))
    result = dict(
        config=name,
        checkpoint=path,
        metrics={
            ds: {key: float(values[key])
                 for key in METRIC_TITLES if values.get(key) is not None}
            for ds, values in per_dataset.items()
        },
        zero_flow={ds: dict(EPE3D=float(value))
                   for ds, value in baselines.items()},
        experiment=experiment or config_name(name))
    problems = non_finite_results(result, predictions)
    if is_main_process():
        counts = ', '.join(f'{ds}: {entry["total"]} samples'
                           for ds, entry in predictions.items())
        lines = ['', f'Checkpoint: {path}'
                 + ('' if why == 'checkpoint file given' else f'\n  {why}'),
                 f'Scene flow results ({counts}):' if counts else
                 'Scene flow results:',
                 format_metrics_table(result['metrics']),
                 'Zero-flow baseline (EPE3D of predicting no motion):']
        for ds, value in baselines.items():
            epe = result['metrics'].get(ds, {}).get('EPE3D')
            ratio = f' (model/zero = {epe / value:.3f})' if epe is not None \
                and value > 0 else ''
            lines.append(f'  {ds}: zero-flow EPE3D {value:.4f}{ratio}')
        print('\n'.join(lines), flush=True)
    if problems:
        listing = '; '.join(problems)
        if not allow_nonfinite:
            raise NonFiniteResultError(
                f'non-finite results of {path}: {listing}. Nothing was '
                'written. Check the checkpoint (NaN/inf weights?) and the '
                'data; --allow-nonfinite keeps going and writes them as null')
        warn(f'non-finite results of {path} (written as null): {listing}')
        result = _nulls(result, predictions)
    if is_main_process() and out:
        atomic_write_json(result, out)
        print(f'metrics written to {out}', flush=True)
    return result


@contextmanager
def train_work_dir_lock(cfg: Config) -> Iterator[None]:
    """Hold the work dir lock while ``tools/train.py`` runs, in one process.

    Taken before the checkpoint to resume from is looked for, so a second
    run stops before it reads or writes anything. A distributed run takes
    it later, in :meth:`bpfn.engine.BPFNRunner.train` (rank 0, the outcome
    broadcast to every rank).

    Args:
        cfg (Config): Config from :func:`load_config` (``work_dir`` set).

    Raises:
        WorkDirLockedError: If another run holds the work dir.
    """
    from mmengine.logging import print_log

    from bpfn.utils.work_dir_lock import WorkDirLock
    if cfg.launcher != 'none':
        yield
        return
    with WorkDirLock(cfg.work_dir,
                     lambda msg: print_log(msg, logger='current', level=30)):
        yield


def finish_distributed() -> None:
    """Wait for every process, then close the process group.

    Without this, a process that leaves while another still tears down its
    gloo threads can abort ('terminate called without an active
    exception').
    """
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
