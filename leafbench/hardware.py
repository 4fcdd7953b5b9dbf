"""What machine a speed figure was measured on, how busy it was, and how fast it multiplies matrices.

A docs/s figure means nothing without the device, the thread count and the load next to it, so every throughput
record carries `device_info()` and `load_average()` from here. `matmul_peak()` measures the machine's dense matmul
rate, the denominator of "fraction of peak": torch.matmul of random square matrices (sizes 1024 and 2048 on CPU,
4096 and 8192 on GPU) in the dtype the model computes in, one untimed call then the best of three timed calls per
size, FLOPs counted as 2*n^3 per product. It is a practical peak (what torch reaches on large GEMMs with the current
thread setting), not the datasheet figure, so an encoder's fraction of it says how much of the machine's usable
compute the encoding reaches.
"""

from __future__ import annotations

import os
import platform
import time
from typing import Any

import torch

from leafbench.cpu import cpu_model, load_average
from leafbench.errors import UserError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PEAK_METHOD = ("best of 3 timed torch.matmul calls of random n x n matrices (n = {sizes}) after one untimed call, "
               "2*n^3 FLOPs each, in {dtype} on {device} with {threads} torch thread(s)")


def resolve_device(device: str) -> str:
    """`auto` -> cuda when a GPU is visible, else cpu; an explicit unavailable cuda is a user error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device is available on this machine (use cpu or auto)")
    return device


def native_bf16(device: str) -> bool:
    """Whether bf16 compute is fast on `device`: CUDA with bf16 support, or a CPU with bf16 instructions.

    On x86 that means avx512_bf16 or AMX, and oneDNN allowed to use them. oneDNN's own check
    (`torch.ops.mkldnn._is_mkldnn_bf16_supported`, which honours a cap such as `ONEDNN_MAX_CPU_ISA=AVX2`) accepts any
    AVX-512 CPU, but without those instructions it emulates bf16 and autocast runs *slower* than fp32: 2.5-3.7x on an
    AVX-512 Xeon without avx512_bf16 (2026-12-07, benchmarks/dtype.py: mpnet 72 -> 25 queries/s, 21 -> 6 docs/s at
    64 tokens), 6-8x on an AVX2-only EPYC given `dtype: bf16` (MiniLM-L6 38 -> 6 docs/s, mpnet 6 -> 0.7 docs/s).
    Elsewhere (ARM) oneDNN's check asks for the CPU's bf16 extension, which is the question asked here.
    """
    if device.startswith("cuda"):
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        return onednn and bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return onednn


def resolve_dtype(dtype: str, device: str) -> str:
    """`auto` -> bf16 where the device computes it natively (see `native_bf16`), else fp32; others unchanged."""
    if dtype != "auto":
        return dtype
    return "bf16" if native_bf16(device) else "fp32"


def device_info(device: str) -> dict[str, Any]:
    """Device and software facts that change speed: device name, CPU model, threads, CUDA version, GPU memory.

    On CPU also the kernels ATen dispatches to (`cpu_capability`: AVX2, AVX512, ...) and whether bf16 is native: a
    virtual machine's CPU name ("Intel Xeon Processor @ 2.80GHz") does not say which kind of CPU it is.
    """
    info: dict[str, Any] = {
        "device": device,
        "device_name": cpu_model(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "native_bf16": native_bf16(device),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(device_name=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                    cudnn_version=torch.backends.cudnn.version())
    return info


def run_machine(device: str) -> dict[str, Any]:
    """What a run's stage times were measured on (`run.json`'s `machine`): `device_info` of the device the suite
    resolves to, and the load as the run starts. A timing without them cannot be compared with another. It is the
    machine the command runs on: with a Ray executor, the driver's, not the encoding actors'."""
    return {**device_info(resolve_device(device)), "load_average": load_average()}


def machine_line(machine: dict[str, Any]) -> str:
    """One line for the end-of-run table: "<CPU or GPU name>, <n> torch threads, AVX512, bf16 not native"."""
    if not machine:
        return ""
    parts = [str(machine.get("device_name")), f"{machine.get('torch_threads')} torch threads"]
    if machine.get("device") == "cpu":
        parts.append(str(machine.get("cpu_capability")))
    parts.append("bf16 native" if machine.get("native_bf16") else "bf16 not native")
    return ", ".join(parts)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def matmul_peak(device: str, dtype: str = "fp32", sizes: tuple[int, ...] | None = None) -> dict[str, Any]:
    """Best measured dense matmul rate in GFLOP/s for `dtype` on `device` (see the module docstring for the method).

    Not cached: on a shared machine the rate moves with the load, so callers measure it next to their own timings.
    `sizes` overrides the matrix sizes (tests use small ones; small matrices understate the peak).
    """
    sizes = sizes or ((4096, 8192) if device.startswith("cuda") else (1024, 2048))
    threads = torch.get_num_threads()
    torch_dtype = _DTYPES[dtype]
    by_size: dict[str, float] = {}
    generator = torch.Generator(device="cpu").manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=generator).to(device=device, dtype=torch_dtype)
        b = torch.randn(n, n, generator=generator).to(device=device, dtype=torch_dtype)
        torch.matmul(a, b)
        _sync(device)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            torch.matmul(a, b)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        by_size[str(n)] = round(2 * n**3 / best / 1e9, 2)
        del a, b
    return {"gflops": max(by_size.values()), "gflops_by_size": by_size, "dtype": dtype, "device": device,
            "method": PEAK_METHOD.format(sizes=", ".join(map(str, sizes)), dtype=dtype, device=device,
                                         threads=threads),
            "load_average": load_average()}
