"""What the platform is told: one image's outcome and one run's end, as plain JSON.

The same payloads go out as Prefect event payloads (announce.events) and callback bodies
(announce.callbacks), so a receiver reads one shape whichever way it listens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["published", "failed"]


@dataclass(frozen=True)
class CheckNotice:
    """One output check: its name, whether it passed, what it saw."""

    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class ImageNotice:
    """One image's outcome (no bytes, no secrets)."""

    input: str  # the source as given: URL, s3:// URI or path
    status: Status
    s3_url: str | None = None  # s3://bucket/key of the published output
    public_url: str | None = None
    cost_usd: float | None = None  # None: unknown (no usage reported); 0.0 when cached
    cached: bool = False  # the generation came from the cache (no OpenAI call)
    checks: tuple[CheckNotice, ...] = ()
    error: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # this image's own (jobs) options
    flow_run_id: str | None = None

    @property
    def flagged(self) -> bool:
        """Whether some output check did not pass."""
        return any(not check.passed for check in self.checks)

    def payload(self) -> dict[str, Any]:
        """The JSON object sent: every field, plus ``flagged``."""
        body = asdict(self)
        body["checks"] = [asdict(check) for check in self.checks]
        body["flagged"] = self.flagged
        return body


@dataclass(frozen=True)
class RunNotice:
    """One run's end: its counts and cost."""

    flow_run_id: str | None
    published: int
    failed: int
    flagged: int
    cost_usd: float | None
    summary: str  # one line, as the run's log says it

    def payload(self) -> dict[str, Any]:
        """The JSON object sent, with ``status: "finished"``."""
        return {"status": "finished", **asdict(self)}
