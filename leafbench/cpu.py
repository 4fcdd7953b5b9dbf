"""What CPU this is and how busy it is, without importing torch.

The deploy calibration keys its cache by the CPU and the report names it next to every search time, and neither
should pay for torch to read /proc/cpuinfo; `leafbench.hardware` (device, dtype, matmul peak) re-uses these too.
"""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: a busy machine explains a slow or noisy figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None
