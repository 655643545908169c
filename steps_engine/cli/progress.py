"""Progress on stderr for the CLI's long steps (no logic beyond display).

On a terminal: tqdm bars. Otherwise (a log file, CI, a pipe): one plain line per stage at most
every `LINE_EVERY` seconds, plus its first and last update, e.g.
    steps: ingest 41% (11.2 MB of 27.3 MB)
so logs get no carriage returns. `-q` turns both off.
"""

from __future__ import annotations

import sys
import time

LINE_EVERY = 10.0  # seconds between plain progress lines


def is_terminal(stream=None) -> bool:
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):
        return False


def _amount(n: float, unit: str) -> str:
    if unit != "B":
        return f"{int(n):,}"
    for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= scale:
            return f"{n / scale:.1f} {name}"
    return f"{int(n)} B"


class LineBar:
    """A tqdm-like bar that prints periodic one-line updates (for non-terminals)."""

    def __init__(self, desc: str, total: int | None, unit: str = "step", stream=None, every: float = LINE_EVERY,
                 clock=time.monotonic):
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.every, self.clock = every, clock
        self.n = 0
        self.postfix = ""
        self._last = None  # time of the last line
        self._done_printed = False

    def update(self, k: int = 1) -> None:
        self.n += k
        now = self.clock()
        finished = self.total is not None and self.n >= self.total
        if self._last is None or now - self._last >= self.every or (finished and not self._done_printed):
            self._print()
            self._last = now
            self._done_printed = finished

    def set_postfix(self, refresh: bool = False, **values) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def _print(self) -> None:
        if self.total:
            text = f"{self.desc} {100 * self.n / self.total:.0f}% ({_amount(self.n, self.unit)} of {_amount(self.total, self.unit)})"
        else:
            text = f"{self.desc} {_amount(self.n, self.unit)}"
        print(f"steps: {text}" + (f" {self.postfix}" if self.postfix else ""), file=self.stream, flush=True)

    def close(self) -> None:
        if self.n and not self._done_printed and self._last is not None:
            self._print()
            self._done_printed = True


def make_bar(desc: str, total: int | None, unit: str = "step", **tqdm_kw):
    """A tqdm bar on a terminal, else a `LineBar`."""
    if is_terminal():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, unit_scale=unit == "B", file=sys.stderr, **tqdm_kw)
    return LineBar(desc, total, unit)


class StageProgress:
    """Callable `progress(stage, done, total)` that keeps one bar per stage."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and sys.stderr is not None
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            unit = "B" if stage == "ingest" else "step"
            bar = make_bar(stage, total or None, unit, leave=False)
            self.bars[stage] = bar
        elif total and total != bar.total:  # the work turned out smaller than announced
            bar.total = total
        bar.update(max(done - bar.n, 0))

    def callback(self, stage: str):
        """`progress(done, total)` for engine functions that take a two-argument callback."""
        return lambda done, total: self(stage, done, total)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
