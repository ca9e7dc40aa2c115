"""What the benchmark ran on, and CPU time of processes it did not start as workers."""

from __future__ import annotations

import os
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _meminfo_mb(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) // 1024
    return 0


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def describe() -> dict[str, str | int | float]:
    """nproc, CPU model, RAM, load, and the versions that shape the numbers."""
    return {
        "nproc": os.cpu_count() or 0,
        "cpu": _cpu_model(),
        "ram_mb": _meminfo_mb("MemTotal"),
        "loadavg_1m_at_start": os.getloadavg()[0],
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "prefect": metadata.version("prefect"),
        "openai": metadata.version("openai"),
        "boto3": metadata.version("boto3"),
        "moto": metadata.version("moto"),
        "pillow": metadata.version("pillow"),
    }


def self_cpu_seconds() -> float:
    """CPU time of this process (all its threads: here the fake OpenAI and moto servers)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # the process ended between listing and reading
        return None
    # The command name (field 2) may hold spaces; everything after its ")" is split safely.
    return text[text.rindex(")") + 2 :].split()


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of ``root`` and its descendants (the Prefect server and anything it runs)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        # After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14),
        # per proc(5). Reaped children's time is in cutime/cstime, so it never vanishes.
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = sum(int(value) for value in fields[11:15]) / _CLOCK_TICKS
    members = {root}
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in members} - members
        members |= children
        grew = bool(children)
    return sum(times.get(pid, 0.0) for pid in members)
