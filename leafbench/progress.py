"""Progress bars for long work (encoding, downloads, training), on stderr so stdout stays parseable.

Rate and ETA are the step's own average (done / elapsed) rather than rich's windowed speed: rich drops samples
older than 30 s, so a bar advanced once a minute (a chunk of long documents on a slow CPU) showed `- texts/s` and
no ETA. In a terminal the bar redraws; in a non-terminal log (CI, `make run > log`), where rich draws nothing until
the end, a plain line with the same figures is printed at most every `LOG_EVERY_S` seconds and once at the end.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import time
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, \
    TimeElapsedColumn
from rich.text import Text

stderr = Console(stderr=True)
LOG_EVERY_S = 30.0  # a non-terminal log gets a progress line at most this often
clock: Callable[[], float] = time.monotonic  # patched by tests


def rate(done: float, elapsed: float | None) -> float | None:
    """Items per second so far, or None before anything is done."""
    return done / elapsed if done and elapsed else None


def eta(done: float, total: float | None, elapsed: float | None) -> float | None:
    """Seconds left at the average rate so far, or None before anything is done."""
    speed = rate(done, elapsed)
    return max(0.0, (total - done) / speed) if speed and total is not None else None


def _hms(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(_dt.timedelta(seconds=int(round(seconds))))


def _rate_text(done: float, elapsed: float | None, unit: str) -> str:
    speed = rate(done, elapsed)
    return f"{speed:,.1f} {unit}/s" if speed else f"- {unit}/s"


class _RateColumn(ProgressColumn):
    """Items per second in the caller's unit (rich's own speed column assumes bytes)."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        return Text(_rate_text(task.completed, task.elapsed, self.unit), style="cyan")


class _EtaColumn(ProgressColumn):
    """Time left at the step's average rate."""

    def render(self, task: Task) -> Text:
        left = 0.0 if task.finished else eta(task.completed, task.total, task.elapsed)
        return Text(f"ETA {_hms(left)}", style="cyan")


@contextlib.contextmanager
def progress_bar(description: str, total: int, unit: str = "texts") -> Iterator[Callable[[int], None]]:
    """Yield an `advance(n)` callback; shows rate and ETA, and leaves one finished line behind."""
    if not stderr.is_terminal:
        with _log_lines(description, total, unit) as advance:
            yield advance
        return
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(unit),
               TimeElapsedColumn(), _EtaColumn()]
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def _log_lines(description: str, total: int, unit: str) -> Iterator[Callable[[int], None]]:
    """The non-terminal form of a bar: a line every LOG_EVERY_S seconds of progress, and a last one."""
    start = clock()
    state = {"done": 0, "logged": start, "last": -1}

    def line() -> None:
        elapsed = clock() - start
        done = state["done"]
        tail = (f"in {_hms(elapsed)}" if done >= total else
                f"elapsed {_hms(elapsed)}, ETA {_hms(eta(done, total, elapsed))}")
        stderr.print(f"{description}: {done}/{total} {_rate_text(done, elapsed, unit)} {tail}",
                     markup=False, highlight=False, soft_wrap=True)
        state["logged"], state["last"] = clock(), done

    def advance(n: int) -> None:
        state["done"] += n
        if state["done"] >= total or clock() - state["logged"] >= LOG_EVERY_S:
            line()

    yield advance
    if state["last"] != state["done"]:
        line()
