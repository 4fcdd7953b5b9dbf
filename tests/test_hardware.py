"""What kind of CPU this is: `dtype: auto` asks it for bf16 instructions, not oneDNN (which says yes to any AVX-512
CPU and emulates), and the search calibration is keyed by its vector extensions, not only its name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import leafbench.hardware as hardware


@pytest.mark.parametrize(("avx512_bf16", "amx", "onednn", "native"),
                         [(False, False, True, False),   # AVX-512 without bf16: oneDNN says yes and emulates
                          (True, False, True, True), (False, True, True, True),
                          (True, True, False, False)])   # capped (ONEDNN_MAX_CPU_ISA=AVX2, as make test-avx2 runs)
def test_x86_bf16_needs_its_instructions(monkeypatch: pytest.MonkeyPatch, avx512_bf16: bool, amx: bool,
                                         onednn: bool, native: bool) -> None:
    monkeypatch.setattr(hardware.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn)
    assert hardware.native_bf16("cpu") is native
    assert hardware.resolve_dtype("auto", "cpu") == ("bf16" if native else "fp32")


@pytest.mark.parametrize("arm_bf16", [False, True])
def test_other_cpus_ask_onednn(monkeypatch: pytest.MonkeyPatch, arm_bf16: bool) -> None:
    monkeypatch.setattr(hardware.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)  # not consulted off x86
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: arm_bf16)
    assert hardware.native_bf16("cpu") is arm_bf16


def test_simd_level_is_the_widest_extension() -> None:
    from leafbench.cpu import simd_level

    assert simd_level({"sse4_2", "avx2", "fma"}) == "avx2"
    assert simd_level({"avx2", "avx512f", "avx512_vnni"}) == "avx512f"  # the Xeon without bf16 seen on 2026-12-07
    assert simd_level({"avx2", "avx512f", "avx512_bf16"}) == "avx512_bf16"
    assert simd_level({"asimd", "bf16"}) is None  # not x86


def test_the_search_calibration_is_keyed_by_the_cpu_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two VMs whose CPUs share a generic name but not their vector units must not share search timings."""
    import leafbench.deploy.calibration as calibration

    monkeypatch.setattr(calibration, "simd_level", lambda: "avx2")
    avx2 = calibration.machine_key()
    monkeypatch.setattr(calibration, "simd_level", lambda: "avx512f")
    assert calibration.machine_key() != avx2


def test_an_explicit_bf16_without_native_kernels_says_so(tiny_model: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """`dtype: bf16` / `bf16: true` are the user's to ask for, but where bf16 is emulated they cost 2.5-8x: one line."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    import leafbench.distill.trainer as trainer
    import leafbench.encoders as encoders
    from leafbench.config import ModelSpec
    from leafbench.distill.data import TrainText
    from leafbench.distill.model import build_student
    from leafbench.distill_spec import DistillTraining
    from leafbench.progress import stderr

    monkeypatch.setattr(encoders, "native_bf16", lambda device: False)
    monkeypatch.setattr(trainer, "native_bf16", lambda device: False)
    monkeypatch.setattr(stderr, "width", 400)  # one line each: rich would wrap them around the caller's file name
    encoders.Encoder("m", ModelSpec(id=str(tiny_model), dtype="bf16"), "cpu")
    texts = [TrainText(text="a headline", role="query", source=0)]
    targets = np.ones((1, 32), dtype=np.float32)
    student = build_student(SentenceTransformer(str(tiny_model), device="cpu"), 32, True, "cpu", "leaf")
    trainer.LeafTrainer(student, texts, targets, texts, targets, {}, DistillTraining(bf16=True), tmp_path / "run",
                        "cpu")
    said = capsys.readouterr().err
    assert "models.m.dtype: bf16 on a cpu without native bf16" in said
    assert "distill.training.bf16: true on a cpu without native bf16" in said
