"""Argument handling shared by the tools: arguments, config, threads.

Loading the config and merging ``--cfg-options`` (:func:`load_config`),
the thread count (:func:`setup_threads`) and the hooks a tool adds to the
config. What the tools then do with the config (launch, build the runner,
resume, finish) is in :mod:`bpfn.engine.launch`; testing a checkpoint in
:mod:`bpfn.apis.testing`.
"""
import argparse
import difflib
import inspect
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Tuple

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
    CUDA and ``gloo`` otherwise, unless the options set it; the launch
    itself is :func:`bpfn.engine.launch.setup_launcher`.

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
    return cfg


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
