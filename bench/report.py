"""The one table (and the optional JSON): rows of measures, ratio rows beside what they compare.

A ratio row divides the mock's figures by another server's: req/s above 1 is faster, p50/p99
below 1 is quicker.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TIMES = "\u00d7"  # the multiplication sign of a ratio


@dataclass
class Row:
    measure: str
    subject: str
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    other: str = ""
    ratio: bool = False
    values: dict[str, Any] = field(default_factory=dict)


def ratio_row(
    measure: str, subject: str, mine: Row | None, theirs: Row | None, other: str = ""
) -> Row | None:
    """`mine` divided by `theirs`, column by column (one either lacks stays empty), or None when
    either is missing or they have no column in common (a FAILED row has none)."""
    if mine is None or theirs is None:
        return None

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    ratios = (div(mine.rps, theirs.rps), div(mine.p50_ms, theirs.p50_ms), div(mine.p99_ms, theirs.p99_ms))
    if all(value is None for value in ratios):
        return None
    return Row(measure, subject, *ratios, other, ratio=True)


def _number(value: float | None, unit: str, ratio: bool) -> str:
    if value is None or math.isnan(value):
        return ""
    if ratio:
        return f"{value:.2f}{TIMES}"
    if unit == "rps":
        return f"{value:,.0f}"
    return f"{value:,.1f} ms" if value >= 10 else f"{value:.2f} ms"


def table(rows: list[Row]) -> str:
    header = ("measure", "server", "req/s", "p50", "p99", "other")
    shown = [
        row.measure if i == 0 or row.measure != rows[i - 1].measure else "" for i, row in enumerate(rows)
    ]
    cells = [
        (
            measure,
            row.subject,
            _number(row.rps, "rps", row.ratio),
            _number(row.p50_ms, "ms", row.ratio),
            _number(row.p99_ms, "ms", row.ratio),
            row.other,
        )
        for measure, row in zip(shown, rows, strict=True)
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    right = {2, 3, 4}

    def line(values: tuple[str, ...]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2) for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), rule, *(line(c) for c in cells)])


def _cpu_model() -> str:
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_1m_at_start": round(load[0], 2),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def machine_line(info: dict[str, Any]) -> str:
    end = round(os.getloadavg()[0], 2)
    return (
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), Linux {info['kernel']}, Python {info['python']}; "
        f"load average {info['load_average_1m_at_start']} at start, {end} at end "
        "(client and server share these cores; other work on the machine moves the numbers)."
    )


def write_json(
    path: str, info: dict[str, Any], versions: dict[str, str], notes: list[str], rows: list[Row]
) -> None:
    data = {"machine": info, "versions": versions, "notes": notes, "rows": [asdict(r) for r in rows]}
    text = json.dumps(data, indent=2, default=str)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n", encoding="utf-8")
