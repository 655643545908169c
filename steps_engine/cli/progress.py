"""tqdm progress bars on stderr for the CLI's long steps (no logic beyond display)."""

from __future__ import annotations

import sys


class StageProgress:
    """Callable `progress(stage, done, total)` that keeps one tqdm bar per stage."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr is not None
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            unit = "B" if stage == "ingest" else "step"
            bar = tqdm(total=total or None, desc=stage, unit=unit, unit_scale=unit == "B", file=sys.stderr, leave=False)
            self.bars[stage] = bar
        bar.update(max(done - bar.n, 0))

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
