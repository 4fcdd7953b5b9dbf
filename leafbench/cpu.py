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


# x86 vector extensions that change how fast a kernel runs, widest first (what `simd_level` reports).
SIMD_LEVELS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2", "sse4_2")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 `flags`, ARM `Features`); empty where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip().lower() in ("flags", "features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def simd_level(flags: set[str] | None = None) -> str | None:
    """The widest x86 vector extension the CPU has, else None. A VM's CPU name ("Intel(R) Xeon(R) Processor @
    2.80GHz") does not say whether it is an AVX2, an AVX-512 or an AVX-512-bf16 machine, and search and encoding
    times differ by that (the teacher encodes 2.2-2.5x faster on the AVX-512 Xeon seen here than on the AVX2 EPYC)."""
    flags = cpu_flags() if flags is None else flags
    return next((level for level in SIMD_LEVELS if level in flags), None)


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: a busy machine explains a slow or noisy figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None
