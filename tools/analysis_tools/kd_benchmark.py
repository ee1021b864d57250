"""KD benchmark on synthetic scenes: does distillation close the gap?

Trains students of the demo model (``configs/demo/bpfn_synthetic.py``) at
the demo budget, from scratch and with each distillation method, for several
seeds, tests each on the held-out test scenes and writes a markdown table::

    python tools/analysis_tools/kd_benchmark.py --jobs 2
    python tools/analysis_tools/kd_benchmark.py --students wn4 \\
        --variants scratch hint --seeds 0 --out work_dirs/kd_benchmark
    python tools/analysis_tools/kd_benchmark.py --regimes full label_scarce

Regimes (:data:`REGIMES`, ``--regimes``):

* ``full``: GT on every training scene.
* ``label_scarce``: GT on 10% of the training scenes
  (``SyntheticSceneFlow(labeled_fraction=0.1)``), the same number of
  iterations. ``scratch`` trains the student on the labelled scenes alone
  (repeated to the length of the full training set, so the epochs and the
  lr schedule are those of the full regime); every other variant trains on
  all the scenes, in the same batches as the full regime: the GT term on
  the labelled samples of a batch (their mean), the distillation terms on
  every sample, the self-supervised terms (variants ``selfsup``, without a
  teacher, and ``output_selfsup``) on the unlabelled ones.

``--epochs`` and ``--train-samples`` shrink the budget of every run (for a
smoke test: ``--epochs 1 --train-samples 16``); the labelled scenes of the
label-scarce regime are drawn from that number of scenes.

Every run is a subprocess of ``tools/train.py`` then ``tools/test.py`` with
``OMP_NUM_THREADS=--threads`` (1 by default), up to ``--jobs`` at a time.
Each run lives in ``OUT/runs/<regime>/<student>/<variant>/seed<k>/`` with the
config it trained (``config.py``), the student's test config
(``test_config.py``), logs, checkpoints and ``result.json``; a run with a
``result.json`` is skipped when the benchmark is run again (an interrupted
run resumes from its last checkpoint), so re-running only does what is
missing. ``--summarize`` only writes the table from what is there.

The teacher is the committed ``resources/bpfn_synthetic_teacher.pth`` (the
demo model trained 4x longer, see ``resources/README.md``); ``--teacher
PATH`` takes another, ``--train-teacher`` trains one with
``configs/demo/bpfn_synthetic_teacher.py`` into ``OUT/teacher``. The
teacher and the zero-flow baseline are tested on the same scenes.

Table (``OUT/kd_benchmark.md``, also printed; ``OUT/kd_benchmark.json``):
per regime, student and variant, EPE3D and ACC3DS as mean +- sample std over
the seeds, the gap closed ``(scratch - variant) / (scratch - teacher)`` of
the mean EPE3D (1 = as good as the teacher, 0 = no better than scratch,
negative = worse), and wall and CPU time per run (train + test).

Students, variants and regimes are tables (:data:`STUDENTS`,
:data:`VARIANTS`, :data:`REGIMES`): a new regime (for example students that
see GT on a fraction of the scenes) is one more :class:`Regime` with the
config lines it adds to every run.
"""
import argparse
import hashlib
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

from bpfn.utils.fileio import atomic_write_json  # noqa: E402

DEMO = osp.join(REPO, 'configs', 'demo')
STUDENT_BASE = osp.join(DEMO, 'bpfn_synthetic.py')
TEACHER_CONFIG = osp.join(DEMO, 'bpfn_synthetic_teacher.py')
DEFAULT_TEACHER = osp.join(REPO, 'resources', 'bpfn_synthetic_teacher.pth')


@dataclass(frozen=True)
class Student:
    """A student: keys of the demo model it changes.

    Attributes:
        title (str): Name in the table.
        model (dict): Keys merged into the demo model config.
        adapter (bool): Its features are narrower than the teacher's, so
            feature losses need a ``ConvAdapter``.
    """
    title: str
    model: Dict[str, object]
    adapter: bool = False


@dataclass(frozen=True)
class Variant:
    """A way to train the student.

    Attributes:
        title (str): Name in the table.
        config (str, optional): The ``configs/demo`` distillation config;
            None trains the student from scratch.
        teacher (bool): The config distils from a teacher (its
            ``teacher_ckpt`` is set to the benchmark's teacher).
        regimes (tuple[str], optional): The regimes it runs in; None for
            all.
    """
    title: str
    config: Optional[str] = None
    teacher: bool = True
    regimes: Optional[Tuple[str, ...]] = None


@dataclass(frozen=True)
class Regime:
    """A training regime: config lines added to every run's config.

    Attributes:
        title (str): Name in the table.
        description (str): One line under the table's heading.
        config_lines (tuple[str]): Python lines appended to each generated
            training config (they may use ``_base_``-style overrides).
        labeled_fraction (float): Share of the training scenes with ground
            truth. Below 1 the scratch student trains on the labelled
            scenes alone, the other variants on all of them.
        scratch_title (str, optional): Name of the scratch row. Defaults to
            the scratch variant's.
    """
    title: str
    description: str
    config_lines: Tuple[str, ...] = field(default_factory=tuple)
    labeled_fraction: float = 1.0
    scratch_title: Optional[str] = None


#: Students of the demo model (widths are those of the demo, a quarter of
#: the paper's: Half is width_mult 0.125 here).
STUDENTS: Dict[str, Student] = {
    'wn4': Student('WN4', dict(weightnet=4)),
    'half': Student('Half', dict(width_mult=0.125, weightnet=16),
                    adapter=True),
}
VARIANTS: Dict[str, Variant] = {
    'scratch': Variant('scratch'),
    'output': Variant('output KD', 'kd_output.py'),
    'hint': Variant('hint', 'kd_hint.py'),
    'bihint': Variant('bi-directional hint', 'kd_bihint.py'),
    'ail': Variant('AIL', 'kd_ail.py'),
    'selfsup': Variant('self-supervised', 'selfsup_unlabeled.py',
                       teacher=False, regimes=('label_scarce', )),
    'output_selfsup': Variant('output KD + self-supervised',
                              'kd_unlabeled.py', regimes=('label_scarce', )),
}
REGIMES: Dict[str, Regime] = {
    'full': Regime('full supervision',
                   'GT on every training scene'),
    'label_scarce': Regime(
        'label-scarce (GT on 10% of the scenes)',
        'GT on 10% of the training scenes (SyntheticSceneFlow '
        'labeled_fraction=0.1), the same iterations as full supervision. Scratch: the labelled scenes alone, repeated to '
        'the length of the training set. The other variants: all the '
        'scenes in the batches of full supervision, the GT term on the '
        'labelled samples of a batch (their mean), the distillation terms '
        'on every sample, the self-supervised terms (Chamfer, smoothness, '
        'Laplacian of PointPWC-Net) on the unlabelled ones',
        labeled_fraction=0.1,
        scratch_title='scratch (labelled 10% only)'),
}


@dataclass
class Run:
    """One training run of the benchmark."""
    regime: str
    student: str
    variant: str
    seed: int
    folder: str

    @property
    def name(self) -> str:
        return f'{self.regime}/{self.student}/{self.variant}/seed{self.seed}'


# ----------------------------------------------------------------------
def _feature_losses_with_adapters(variant_cfg: str) -> Optional[list]:
    """The variant's distill_losses with an adapter on every feature loss,
    or None when it has no feature loss."""
    from mmengine.config import Config
    losses = [dict(loss) for loss in
              Config.fromfile(variant_cfg).model.get('distill_losses', [])]
    changed = False
    for loss in losses:
        if 'student' in loss and 'adapter' not in loss:
            loss['adapter'] = dict(type='ConvAdapter')
            changed = True
    return losses if changed else None


def labeled_scenes(fraction: float,
                   train_samples: Optional[int] = None) -> List[int]:
    """The training scenes that keep their ground truth at ``fraction``.

    Those of the demo's training set (``configs/demo/bpfn_synthetic.py``,
    or ``train_samples`` scenes of it) with
    ``SyntheticSceneFlow(labeled_fraction=fraction)``.

    Args:
        fraction (float): The labelled share.
        train_samples (int, optional): Scenes of the training set.
            Defaults to the demo's.

    Returns:
        list[int]: Sorted scene indices.
    """
    from mmengine.config import Config

    from bpfn.datasets import SyntheticSceneFlow
    data = Config.fromfile(STUDENT_BASE).train_dataloader.dataset
    dataset = SyntheticSceneFlow(
        num_samples=train_samples or data.num_samples,
        num_points=data.num_points, split=data.get('split', 'train'),
        seed=data.get('seed', 0), labeled_fraction=fraction, lazy_init=True)
    return [int(i) for i in dataset.labeled_scenes()]


def _regime_lines(run: Run, train_samples: Optional[int]) -> List[str]:
    """Config lines of the run's regime (labelled share) and budget."""
    regime = REGIMES[run.regime]
    loader: Dict[str, object] = {}
    dataset: Dict[str, object] = {}
    if train_samples:
        dataset['num_samples'] = int(train_samples)
    lines = []
    if regime.labeled_fraction < 1:
        dataset['labeled_fraction'] = regime.labeled_fraction
        if VARIANTS[run.variant].config is None:
            # The labelled scenes alone, each repeated, for as many samples
            # per epoch as the whole training set.
            from mmengine.config import Config
            total = train_samples or Config.fromfile(
                STUDENT_BASE).train_dataloader.dataset.num_samples
            scenes = labeled_scenes(regime.labeled_fraction, train_samples)
            dataset['indices'] = [scenes[i % len(scenes)]
                                  for i in range(total)]
            lines.append(f'# Scratch: the {len(scenes)} labelled scenes '
                         f'{scenes}, repeated to {total} samples per epoch')
        else:
            # Plain batches, as in full supervision (a config's own mixing
            # sampler is switched off).
            loader['batch_sampler'] = None
    if dataset:
        loader['dataset'] = dataset
    if loader:
        lines.append(f'train_dataloader = {loader!r}')
    return lines


def training_config(run: Run, teacher: str,
                    train_samples: Optional[int] = None,
                    epochs: Optional[int] = None) -> str:
    """Text of the training config of a run.

    Args:
        run (Run): The run.
        teacher (str): Teacher checkpoint.
        train_samples (int, optional): Training scenes. Defaults to the
            demo's 200.
        epochs (int, optional): Epochs. Defaults to the demo's 10.

    Returns:
        str: A config file that inherits from the demo config.
    """
    student = STUDENTS[run.student]
    variant = VARIANTS[run.variant]
    lines = [f'# KD benchmark run {run.name} (generated by '
             'tools/analysis_tools/kd_benchmark.py)']
    if variant.config is None:
        lines += [f'_base_ = [{STUDENT_BASE!r}]',
                  f'model = dict(**{student.model!r})']
    else:
        base = osp.join(DEMO, variant.config)
        model = dict(student=dict(student.model))
        if variant.teacher:
            model['teacher_ckpt'] = teacher
        if student.adapter:
            losses = _feature_losses_with_adapters(base)
            if losses is not None:
                model['distill_losses'] = losses
        lines += [f'_base_ = [{base!r}]', f'model = {model!r}']
    lines.append(f'randomness = dict(seed={run.seed})')
    if epochs:
        lines.append(f'train_cfg = dict(max_epochs={int(epochs)})')
    lines += _regime_lines(run, train_samples)
    lines += list(REGIMES[run.regime].config_lines)
    return '\n'.join(lines) + '\n'


def student_test_config(run: Run) -> str:
    """Text of the student's own config (to test the distilled student)."""
    model = STUDENTS[run.student].model
    return (f'# Student of KD benchmark run {run.name}\n'
            f'_base_ = [{STUDENT_BASE!r}]\nmodel = dict(**{model!r})\n')


def _spec_hash(*texts: str) -> str:
    return hashlib.sha256('\n'.join(texts).encode()).hexdigest()[:16]


def _run_tool(args: List[str], log: str, threads: int) -> Tuple[float, float]:
    """Run a tool, log its output; wall and CPU seconds. Raises on error."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(
                   [REPO] + [p for p in [os.environ.get('PYTHONPATH')] if p]))
    start = time.perf_counter()
    with open(log, 'a') as f:
        proc = subprocess.Popen([sys.executable] + args, cwd=REPO, env=env,
                                stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(args[:2])} failed with exit code '
                           f'{proc.returncode}; see {log}')
    return wall, usage.ru_utime + usage.ru_stime


def _max_epochs(config: str, cfg_options: Optional[dict]) -> int:
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return int(cfg.train_cfg.max_epochs)


def execute(run: Run, teacher: str, cfg_options: List[str], threads: int,
            train_samples: Optional[int] = None,
            epochs: Optional[int] = None) -> dict:
    """Train and test one run unless its result is there.

    Args:
        run (Run): The run.
        teacher (str): Teacher checkpoint.
        cfg_options (list[str]): ``key=value`` overrides of every run.
        threads (int): Threads of each process.
        train_samples (int, optional): Training scenes (see
            :func:`training_config`).
        epochs (int, optional): Epochs (see :func:`training_config`).

    Returns:
        dict: The run's record (also ``result.json`` in its folder).
    """
    os.makedirs(run.folder, exist_ok=True)
    train_cfg, student_cfg = osp.join(run.folder, 'config.py'), osp.join(
        run.folder, 'test_config.py')
    train_text = training_config(run, teacher, train_samples, epochs)
    test_text = student_test_config(run)
    spec = _spec_hash(train_text, test_text, ' '.join(cfg_options))
    result_file = osp.join(run.folder, 'result.json')
    if osp.isfile(result_file):
        with open(result_file) as f:
            record = json.load(f)
        if record.get('spec') != spec:
            raise RuntimeError(
                f'{run.name}: {result_file} was made with other settings '
                '(config or --cfg-options); use another --out or delete it')
        record['skipped'] = True
        return record
    for path, text in ((train_cfg, train_text), (student_cfg, test_text)):
        with open(path, 'w') as f:
            f.write(text)
    options = ['--cfg-options', *cfg_options] if cfg_options else []
    work = osp.join(run.folder, 'work')
    epochs = _max_epochs(train_cfg, _options_dict(cfg_options))
    final = osp.join(work, f'epoch_{epochs}.pth')
    train_s = cpu_s = 0.0
    resumed = False
    if not osp.isfile(final):
        args = ['tools/train.py', train_cfg, '--work-dir', work]
        if osp.isfile(osp.join(work, 'last_checkpoint')):
            args.append('--resume')
            resumed = True
        train_s, cpu_s = _run_tool(args + options,
                                   osp.join(run.folder, 'train.log'), threads)
    test_out = osp.join(run.folder, 'test.json')
    test_s, test_cpu = _run_tool(
        ['tools/test.py', student_cfg, final, '--work-dir',
         osp.join(run.folder, 'test'), '--out', test_out] + options,
        osp.join(run.folder, 'test.log'), threads)
    with open(test_out) as f:
        tested = json.load(f)
    metrics = next(iter(tested['metrics'].values()))
    zero = next(iter(tested['zero_flow'].values()))['EPE3D']
    record = dict(run=run.name, regime=run.regime, student=run.student,
                  variant=run.variant, seed=run.seed, spec=spec,
                  metrics=metrics, zero_flow_EPE3D=zero,
                  train_wall_s=train_s, train_cpu_s=cpu_s, test_wall_s=test_s,
                  test_cpu_s=test_cpu, resumed=resumed)
    atomic_write_json(record, result_file)
    return record


def _options_dict(cfg_options: Sequence[str]) -> dict:
    """``key=value`` strings parsed as ``--cfg-options`` parses them."""
    if not cfg_options:
        return {}
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction)
    return parser.parse_args(['--o', *cfg_options]).o


def evaluate_teacher(out: str, teacher: str, cfg_options: List[str],
                     threads: int) -> dict:
    """The teacher's and the zero flow's test EPE3D (cached)."""
    folder = osp.join(out, 'teacher')
    os.makedirs(folder, exist_ok=True)
    result = osp.join(folder, 'test.json')
    spec = _spec_hash(osp.abspath(teacher), ' '.join(cfg_options))
    marker = osp.join(folder, 'spec.txt')
    if not (osp.isfile(result) and osp.isfile(marker)
            and open(marker).read() == spec):
        options = ['--cfg-options', *cfg_options] if cfg_options else []
        _run_tool(['tools/test.py', STUDENT_BASE, teacher, '--work-dir',
                   osp.join(folder, 'test'), '--out', result] + options,
                  osp.join(folder, 'test.log'), threads)
        with open(marker, 'w') as f:
            f.write(spec)
    with open(result) as f:
        tested = json.load(f)
    return dict(checkpoint=teacher,
                metrics=next(iter(tested['metrics'].values())),
                zero_flow_EPE3D=next(iter(
                    tested['zero_flow'].values()))['EPE3D'])


def train_teacher(out: str, cfg_options: List[str], threads: int) -> str:
    """Train a teacher with the teacher config (or reuse the one there)."""
    work = osp.join(out, 'teacher', 'train')
    epochs = _max_epochs(TEACHER_CONFIG, _options_dict(cfg_options))
    final = osp.join(work, f'epoch_{epochs}.pth')
    if not osp.isfile(final):
        os.makedirs(work, exist_ok=True)
        args = ['tools/train.py', TEACHER_CONFIG, '--work-dir', work]
        if osp.isfile(osp.join(work, 'last_checkpoint')):
            args.append('--resume')
        if cfg_options:
            args += ['--cfg-options', *cfg_options]
        _run_tool(args, osp.join(out, 'teacher', 'train.log'), threads)
    return final


# ----------------------------------------------------------------------
def _mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def _fmt(mean: float, std: Optional[float]) -> str:
    return f'{mean:.4f}' if std is None else f'{mean:.4f} ± {std:.4f}'


def budget_line(epochs: Optional[int] = None,
                train_samples: Optional[int] = None) -> str:
    """What every run trains for, from the demo config and the overrides.

    Args:
        epochs (int, optional): ``--epochs`` (None: the demo's).
        train_samples (int, optional): ``--train-samples`` (None: the
            demo's).

    Returns:
        str: E.g. ``'10 epochs of 200 training scenes (500 iterations at
        batch 4), 2048 points'``.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(DEMO, 'bpfn_synthetic.py'))
    epochs = int(epochs or cfg.train_cfg.max_epochs)
    scenes = int(train_samples or cfg.train_dataloader.dataset.num_samples)
    batch = int(cfg.train_dataloader.batch_size)
    iters = epochs * -(-scenes // batch)
    return (f'{epochs} epochs of {scenes} training scenes ({iters} '
            f'iterations at batch {batch}), {cfg.num_points} points')


def summarize(records: List[dict], teacher: dict,
              budget: Optional[str] = None) -> Tuple[str, dict]:
    """The markdown table and its data.

    Args:
        records (list[dict]): Run records (see :func:`execute`).
        teacher (dict): The teacher's record (see :func:`evaluate_teacher`).
        budget (str, optional): What every run trains for
            (:func:`budget_line`), stated under each heading.

    Returns:
        tuple[str, dict]: Markdown, and the rows as a dict.
    """
    t_epe = teacher['metrics']['EPE3D']
    zero = teacher['zero_flow_EPE3D']
    lines, data = [], dict(teacher=teacher, regimes={})
    for regime, spec in REGIMES.items():
        rows = [r for r in records if r['regime'] == regime]
        if not rows:
            continue
        said = spec.description + (f'; every run: {budget}' if budget
                                   else '')
        lines += [f'### {spec.title}', '', said + '.', '',
                  f'Teacher (`{osp.relpath(teacher["checkpoint"], REPO)}`): '
                  f'test EPE3D {t_epe:.4f}, ACC3DS '
                  f'{teacher["metrics"]["ACC3DS"]:.4f}; zero flow: EPE3D '
                  f'{zero:.4f}.', '',
                  '| Student | Training | Seeds | EPE3D(↓) | ACC3DS(↑) | '
                  'Gap closed | Wall / CPU time per run |',
                  '|---|---|---|---|---|---|---|']
        data['regimes'][regime] = []
        for student in STUDENTS:
            mine = [r for r in rows if r['student'] == student]
            scratch = [r['metrics']['EPE3D'] for r in mine
                       if r['variant'] == 'scratch']
            s_mean = statistics.fmean(scratch) if scratch else None
            for variant in VARIANTS:
                runs = sorted((r for r in mine if r['variant'] == variant),
                              key=lambda r: r['seed'])
                if not runs:
                    continue
                epe = _mean_std([r['metrics']['EPE3D'] for r in runs])
                acc = _mean_std([r['metrics']['ACC3DS'] for r in runs])
                gap = None
                if s_mean is not None and variant != 'scratch' and \
                        not math.isclose(s_mean, t_epe):
                    gap = (s_mean - epe[0]) / (s_mean - t_epe)
                wall = statistics.fmean(
                    r['train_wall_s'] + r['test_wall_s'] for r in runs)
                cpu = statistics.fmean(
                    r['train_cpu_s'] + r['test_cpu_s'] for r in runs)
                seeds = ', '.join(str(r['seed']) for r in runs)
                title = VARIANTS[variant].title
                if variant == 'scratch' and spec.scratch_title:
                    title = spec.scratch_title
                lines.append(
                    f'| {STUDENTS[student].title} | {title}'
                    f' | {seeds} | {_fmt(*epe)} | {_fmt(*acc)} | '
                    f'{"-" if gap is None else f"{gap:.2f}"} | '
                    f'{wall / 60:.1f} / {cpu / 60:.1f} min |')
                data['regimes'][regime].append(dict(
                    student=student, variant=variant,
                    seeds=[r['seed'] for r in runs], EPE3D_mean=epe[0],
                    EPE3D_std=epe[1], ACC3DS_mean=acc[0], ACC3DS_std=acc[1],
                    gap_closed=gap, wall_s=wall, cpu_s=cpu))
        lines.append('')
    lines.append('EPE3D and ACC3DS: mean ± sample std over the seeds, on the '
                 'held-out test scenes. Gap closed: (scratch - variant) / '
                 '(scratch - teacher) of the mean EPE3D. Times: train + test '
                 'of one run (wall clock, process CPU).')
    return '\n'.join(lines) + '\n', data


def plan(args) -> List[Run]:
    """Every run of the benchmark, seeds outermost (early seeds first).

    A variant runs only in its regimes (:attr:`Variant.regimes`).
    """
    runs = []
    for seed in args.seeds:
        for regime in args.regimes:
            for student in args.students:
                for variant in args.variants:
                    allowed = VARIANTS[variant].regimes
                    if allowed is not None and regime not in allowed:
                        continue
                    runs.append(Run(regime, student, variant, seed, osp.join(
                        args.out, 'runs', regime, student, variant,
                        f'seed{seed}')))
    return runs


def parse_args(argv=None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='KD benchmark on synthetic scenes')
    parser.add_argument('--out', default='work_dirs/kd_benchmark',
                        help='output folder (runs, table)')
    parser.add_argument('--students', nargs='+', default=list(STUDENTS),
                        choices=list(STUDENTS))
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS),
                        choices=list(VARIANTS))
    parser.add_argument('--regimes', nargs='+', default=['full'],
                        choices=list(REGIMES))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at the same time')
    parser.add_argument('--threads', type=int, default=1,
                        help='threads of each run (OMP_NUM_THREADS)')
    teacher = parser.add_mutually_exclusive_group()
    teacher.add_argument('--teacher', default=DEFAULT_TEACHER,
                         help='teacher checkpoint')
    teacher.add_argument('--train-teacher', action='store_true',
                         help='train the teacher with '
                         'configs/demo/bpfn_synthetic_teacher.py')
    parser.add_argument('--epochs', type=int, default=None,
                        help='epochs of every run (default: the demo\'s 10)')
    parser.add_argument('--train-samples', type=int, default=None,
                        help='training scenes of every run (default: the '
                        'demo\'s 200); the label-scarce regime labels 10%% '
                        'of them')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='overrides of every run, e.g. a smaller budget '
                        '(train_cfg.max_epochs=1)')
    parser.add_argument('--summarize', action='store_true',
                        help='only write the table from finished runs')
    args = parser.parse_args(argv)
    if 'scratch' not in args.variants:
        parser.error('--variants needs scratch (the gap closed is relative '
                     'to it)')
    for name in ('epochs', 'train_samples'):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f'--{name.replace("_", "-")} must be >= 1, got '
                         f'{value}')
    runs = [v for v in args.variants if VARIANTS[v].regimes is None or any(
        r in VARIANTS[v].regimes for r in args.regimes)]
    if len(runs) < len(args.variants):
        skipped = sorted(set(args.variants) - set(runs))
        print(f'note: variants {skipped} run only in the regimes '
              f'{sorted({r for v in skipped for r in VARIANTS[v].regimes})}'
              f'; not in {args.regimes}', flush=True)
    return args


def main(argv=None) -> None:
    """Run what is missing, then write the table."""
    args = parse_args(argv)
    args.out = osp.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)
    runs = plan(args)
    if args.summarize:
        records = []
        for run in runs:
            path = osp.join(run.folder, 'result.json')
            if osp.isfile(path):
                with open(path) as f:
                    records.append(json.load(f))
        with open(osp.join(args.out, 'teacher.json')) as f:
            teacher = json.load(f)
    else:
        teacher_ckpt = train_teacher(args.out, args.cfg_options,
                                     args.threads) if args.train_teacher \
            else osp.abspath(args.teacher)
        if not osp.isfile(teacher_ckpt):
            sys.exit(f'error: teacher checkpoint {teacher_ckpt} not found')
        teacher = evaluate_teacher(args.out, teacher_ckpt, args.cfg_options,
                                   args.threads)
        atomic_write_json(teacher, osp.join(args.out, 'teacher.json'))
        print(f'teacher test EPE3D {teacher["metrics"]["EPE3D"]:.4f}, zero '
              f'flow {teacher["zero_flow_EPE3D"]:.4f}; {len(runs)} runs, '
              f'{args.jobs} at a time', flush=True)

        def work(run: Run) -> Optional[dict]:
            try:
                record = execute(run, teacher_ckpt, args.cfg_options,
                                 args.threads, args.train_samples,
                                 args.epochs)
            except RuntimeError as exc:
                print(f'FAILED {run.name}: {exc}', flush=True)
                return None
            state = 'done before' if record.get('skipped') else (
                f'{(record["train_wall_s"] + record["test_wall_s"]) / 60:.1f}'
                ' min')
            print(f'{run.name}: EPE3D {record["metrics"]["EPE3D"]:.4f} '
                  f'({state})', flush=True)
            return record

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            records = [r for r in pool.map(work, runs) if r is not None]
        if len(records) < len(runs):
            print(f'{len(runs) - len(records)} runs failed; the table shows '
                  'the others', flush=True)
    table, data = summarize(records, teacher,
                            budget_line(args.epochs, args.train_samples))
    with open(osp.join(args.out, 'kd_benchmark.md'), 'w') as f:
        f.write(table)
    atomic_write_json(data, osp.join(args.out, 'kd_benchmark.json'))
    print(table, flush=True)
    print(f'written to {osp.join(args.out, "kd_benchmark.md")}', flush=True)


if __name__ == '__main__':
    main()
