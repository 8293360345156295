"""What a fuzz run counts and finds (pure): requests sent per method and way, answers per status
code, and findings: an answer UNKNOWN or INTERNAL (over Connect: "unknown", "internal" or an
HTTP 5xx that is not unavailable), each recorded once per (method, way, code, message) with the
first request that provoked it. A finding matching a `KnownFinding` is kept apart: it names an
open defect owned elsewhere, and the bounded test fails only on the others."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

BAD_CODES = frozenset({"UNKNOWN", "INTERNAL"})
REQUEST_SHOWN = 300  # characters of a request kept in a finding
MESSAGE_SHOWN = 300


@dataclass(frozen=True)
class KnownFinding:
    """An open defect the fuzzer hits, owned by another change: findings of `method` (the
    short name, "WorkflowService/CancelWorkflow") whose message contains `contains`."""

    method: str
    contains: str
    owner: str
    issue: str

    def matches(self, finding: Finding) -> bool:
        return finding.method == self.method and self.contains in finding.message


@dataclass(frozen=True)
class Finding:
    method: str
    way: str  # "grpc" (a generated request), "raw" (garbage bytes) or "connect"
    code: str
    message: str
    request: str

    def render(self) -> str:
        return (
            f"{self.method} [{self.way}] {self.code}: {self.message!r}\n    request: {self.request}"
        )


def _shape(message: str) -> str:
    """A message with its numbers and quoted values blanked, so one defect is one finding."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", message)[:120]


def truncate(text: str, most: int) -> str:
    return text if len(text) <= most else f"{text[:most]}... ({len(text)} chars)"


@dataclass
class Tally:
    """The counts and findings of a run."""

    known: Sequence[KnownFinding] = ()
    sent: Counter[tuple[str, str]] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str, str], Finding] = field(default_factory=dict)
    hits: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)

    def record(
        self, method: str, way: str, code: str, message: str, request: Callable[[], str]
    ) -> None:
        """One answer: `code` is a gRPC status name ("OK", "NOT_FOUND"...); `request` tells
        what was sent (called only for a finding)."""
        self.sent[(method, way)] += 1
        self.codes[code] += 1
        self.answers[(method, way, code)] += 1
        if code not in BAD_CODES:
            return
        key = (method, way, code, _shape(message))
        if key not in self.findings:
            shown = truncate(message, MESSAGE_SHOWN)
            self.findings[key] = Finding(method, way, code, shown, request())
        self.hits[key] += 1

    @property
    def total(self) -> int:
        """Fuzz requests sent (the clean-up calls of what they created not counted)."""
        return sum(n for (_, way), n in self.sent.items() if way != "cleanup")

    def is_known(self, finding: Finding) -> bool:
        return any(known.matches(finding) for known in self.known)

    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings.values() if not self.is_known(f)]

    def known_findings(self) -> list[Finding]:
        return [f for f in self.findings.values() if self.is_known(f)]

    def render(self) -> str:
        lines = [f"{'method':<46} {'way':<8} {'sent':>6}  answers"]
        for (method, way), count in sorted(self.sent.items()):
            codes = Counter(
                {c: n for (m, w, c), n in self.answers.items() if (m, w) == (method, way)}
            )
            shown = " ".join(f"{c}:{n}" for c, n in codes.most_common())
            lines.append(f"{method:<46} {way:<8} {count:>6}  {shown}")
        lines.append("answers: " + ", ".join(f"{c} {n}" for c, n in self.codes.most_common()))
        new = [(k, f) for k, f in self.findings.items() if not self.is_known(f)]
        known = [(k, f) for k, f in self.findings.items() if self.is_known(f)]
        lines += self._section("findings", new)
        lines += self._section("known findings (owned elsewhere)", known)
        return "\n".join(lines)

    def _section(
        self, title: str, found: list[tuple[tuple[str, str, str, str], Finding]]
    ) -> list[str]:
        return [f"{title}: {len(found)}"] + [f"  ({self.hits[k]}x) {f.render()}" for k, f in found]


def connect_code(http_status: int, body_code: str | None) -> str:
    """The gRPC code name a Connect answer stands for: its JSON `code` when it has one, else
    from the HTTP status (a 5xx without a code is INTERNAL: the gateway itself failed)."""
    if body_code:
        return body_code.upper()
    if http_status < 400:
        return "OK"
    if http_status == 503:
        return "UNAVAILABLE"
    if http_status >= 500:
        return "INTERNAL"
    return f"HTTP_{http_status}"
