"""Progress bars tell a rate and an ETA in a terminal and in a non-terminal log alike."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import Progress

from leafbench import progress


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_non_terminal_log_prints_rate_and_eta_while_running(monkeypatch):
    """stderr captured to a file (CI, `make run > log`): a line per LOG_EVERY_S with rate and ETA, and a last
    line with the average rate, even when each advance comes more than rich's 30 s speed window apart."""
    out, clock = io.StringIO(), _Clock()
    monkeypatch.setattr(progress, "stderr", Console(file=out, force_terminal=False, width=200))
    monkeypatch.setattr(progress, "clock", clock)
    with progress.progress_bar("encode m documents", 300) as advance:
        for _ in range(3):
            clock.now += 50.0  # 100 long documents a minute: slower than rich's speed window
            advance(100)
    lines = out.getvalue().splitlines()
    assert lines == ["encode m documents: 100/300 2.0 texts/s elapsed 0:00:50, ETA 0:01:40",
                     "encode m documents: 200/300 2.0 texts/s elapsed 0:01:40, ETA 0:00:50",
                     "encode m documents: 300/300 2.0 texts/s in 0:02:30"]


def test_non_terminal_log_is_quiet_between_intervals_and_ends_with_a_line(monkeypatch):
    out, clock = io.StringIO(), _Clock()
    monkeypatch.setattr(progress, "stderr", Console(file=out, force_terminal=False, width=200))
    monkeypatch.setattr(progress, "clock", clock)
    with progress.progress_bar("train", 1000, unit="samples") as advance:
        for _ in range(10):  # stops early (a budget ran out): the last line still says where it stopped
            clock.now += 1.0
            advance(50)
    lines = out.getvalue().splitlines()
    assert lines == ["train: 500/1000 50.0 samples/s elapsed 0:00:10, ETA 0:00:10"]


def test_terminal_columns_use_the_average_rate():
    """rich's own speed is None after one advance more than 30 s after the start; the columns are not."""
    clock = _Clock()
    bar = Progress(get_time=clock, console=Console(file=io.StringIO(), force_terminal=True))
    task_id = bar.add_task("encode", total=300)
    clock.now += 60.0
    bar.advance(task_id, 100)
    task = bar.tasks[0]
    assert task.speed is None  # the failure mode: `- texts/s` and no ETA
    assert progress._RateColumn("texts").render(task).plain == "1.7 texts/s"
    assert progress._EtaColumn().render(task).plain == "ETA 0:02:00"
