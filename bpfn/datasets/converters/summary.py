"""What a conversion run wrote, skipped and noticed, per split."""
from collections import OrderedDict
from typing import Dict, List

import numpy as np


class ConversionSummary:
    """Counts of one converter run, printed at its end.

    Frames are recorded as written (with their number of points) or skipped
    (with a reason); notes count frames that were written but hold something
    worth a look (points behind the camera, dropped pixels).

    Args:
        title (str): First line of the report, e.g. ``'FT3D (35m) -> OUT'``.
        splits (list[str]): The splits converted, in report order.
    """

    def __init__(self, title: str, splits: List[str]) -> None:
        self.title = title
        self.points: Dict[str, List[int]] = OrderedDict(
            (s, []) for s in splits)
        self.skipped: Dict[str, List[str]] = OrderedDict()
        self.skipped_per_split: Dict[str, int] = {s: 0 for s in splits}
        self.notes: Dict[str, List[str]] = OrderedDict()
        self.removed: List[str] = []

    def add_written(self, split: str, num_points: int) -> None:
        """Record a written frame of ``num_points`` points."""
        self.points[split].append(int(num_points))

    def add_skipped(self, split: str, frame: str, reason: str,
                    detail: str = '') -> None:
        """Record a skipped frame, grouped by ``reason``."""
        self.skipped.setdefault(reason, []).append(
            frame + (f' ({detail})' if detail else ''))
        self.skipped_per_split[split] += 1

    def add_note(self, note: str, frame: str) -> None:
        """Record a written frame that has ``note``."""
        self.notes.setdefault(note, []).append(frame)

    @property
    def num_written(self) -> int:
        """int: Frames written over all splits."""
        return sum(len(v) for v in self.points.values())

    @property
    def empty_splits(self) -> List[str]:
        """list[str]: Splits of which no frame was written."""
        return [s for s, v in self.points.items() if not v]

    def lines(self) -> List[str]:
        """The report, one string per line."""
        out = [self.title]
        for split, points in self.points.items():
            line = (f'  {split}: {len(points)} frame(s) written, '
                    f'{self.skipped_per_split[split]} skipped')
            if points:
                line += (f'; points per frame min {min(points)} / median '
                         f'{int(np.median(points))} / max {max(points)}')
            out.append(line)
        for reason, frames in self.skipped.items():
            out.append(f'  skipped {len(frames)} frame(s): {reason}; e.g. '
                       + ', '.join(frames[:3]))
        for note, frames in self.notes.items():
            out.append(f'  note: {len(frames)} written frame(s) {note}; '
                       'e.g. ' + ', '.join(frames[:3]))
        if self.removed:
            out.append(f'  removed the earlier output of {len(self.removed)} '
                       'skipped frame(s), e.g. ' +
                       ', '.join(self.removed[:3]))
        return out

    def __str__(self) -> str:
        return '\n'.join(self.lines())
