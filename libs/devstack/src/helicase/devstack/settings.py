"""The variables only the local suite, the test harness, the chaos driver, the benchmarks and the
clients read (the services' own are declared in their config modules; README.md's
"Configuration" table lists them all)."""

from __future__ import annotations

from typing import Any

from helicase.common.config import Setting, flag, string

HOME = string(
    "HELICASE_HOME",
    "",
    "state and logs of `make up`/`down`/`status`",
    shown="`.helicase` of the checkout",
)
KEEP_TEST_HOME = flag(
    "HELICASE_KEEP_TEST_HOME", False, "keep the test harness's homes (logs, data) after the run"
)
SCREENSHOTS_DIR = string(
    "HELICASE_SCREENSHOTS_DIR",
    ".helicase/screenshots",
    "where the browser tests write their screenshots (`make screenshots`: docs/screenshots)",
)
CHAOS_LEDGER = string(
    "HELICASE_CHAOS_LEDGER",
    "",
    "set by the chaos driver on its participants: the file the chaos ledger appends one JSON"
    " line per task event to",
    shown="empty (off)",
)

CLIENT_TOKEN = string(
    "HELICASE_TOKEN",
    "",
    "the bearer token (API key or JWT) the CLI, the clients, `make demo` and the benchmarks send"
    " (read by helicase.wire; `make up` writes the `demo` tenant's admin key to"
    " `.helicase/secrets.env`)",
    shown="empty (no token)",
)

SETTINGS: tuple[Setting[Any], ...] = (
    HOME,
    KEEP_TEST_HOME,
    SCREENSHOTS_DIR,
    CHAOS_LEDGER,
    CLIENT_TOKEN,
)
