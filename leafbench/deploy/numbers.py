"""Human-sized numbers on the command line: `--docs 8.8M`, `--max-bytes 128` or `1Ki`, `--max-latency-ms 20`."""

from __future__ import annotations

import math
import re

from leafbench.errors import UserError

_SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "b": 1e9, "B": 1e9, "t": 1e12,
           "T": 1e12, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([A-Za-z]{0,2})\s*$")


def parse_number(text: str, flag: str, integer: bool = False) -> float:
    """`8.8M` -> 8_800_000.0; SI suffixes k/M/G(B)/T and binary Ki/Mi/Gi/Ti; a bad value names the flag."""
    match = _NUMBER.match(str(text))
    suffix = match.group(2) if match else ""
    if suffix.endswith("B") and len(suffix) == 2:  # "KB", "MB": bytes spelled out
        suffix = suffix[0]
    if not match or suffix not in _SUFFIX:
        raise UserError(f"{flag} {text}: expected a positive number, optionally with a suffix k, M, G, T (powers "
                        f"of 1000) or Ki, Mi, Gi (powers of 1024), e.g. 8.8M")
    value = float(match.group(1)) * _SUFFIX[suffix]
    if not math.isfinite(value) or value <= 0:
        raise UserError(f"{flag} {text}: expected a number above zero")
    if integer and value < 1:
        raise UserError(f"{flag} {text}: expected at least 1")
    return float(round(value)) if integer else value


def human_count(n: float) -> str:
    """8_800_000 -> '8.8M' (the inverse of parse_number, for labels)."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    """Bytes in binary units, three significant figures: 1536 -> '1.5 KiB'."""
    for div, suffix in ((2 ** 40, "TiB"), (2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {suffix}"
    return f"{n:.0f} B"
