"""Runs one scenario of web/e2e/signin.mjs (Debian's Chromium through playwright-core) and talks
with it line by line: it prints what it did, and waits for a line on stdin where the test must
act (revoke the key) before it goes on."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from helicase.devstack.settings import SCREENSHOTS_DIR

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "web" / "e2e" / "signin.mjs"
TIMEOUT = 180.0


def run_scenario(
    scenario: str,
    url: str,
    token: str,
    on_line: Callable[[str], str | None] = lambda _: None,
) -> list[str]:
    """The script's output lines; `on_line(line)` may answer a line (written to its stdin).
    Raises AssertionError with the output when the scenario fails."""
    assert (ROOT / "web" / "dist" / "index.html").is_file(), "web/dist is not built: make install"
    assert shutil.which("node"), "node is missing: make install"
    env = {
        **os.environ,
        "HELICASE_WEB_URL": url,
        "HELICASE_TOKEN": token,
        "SCREENSHOT_DIR": str(ROOT / SCREENSHOTS_DIR.read()),
    }
    # Its own process group: whatever the script started (Chromium) is killed with it.
    proc = subprocess.Popen(
        ["node", str(SCRIPT), scenario],
        cwd=ROOT / "web",
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    lines: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            # Raw reads, not readline(): a buffered reader may hold a second line (e.g. the
            # script's "revoke") that select() on the pipe no longer reports, and the script
            # would wait for the answer to it forever.
            pending = b""
            done = False
            while not done and time.monotonic() < deadline:
                if not selector.select(timeout=deadline - time.monotonic()):
                    break
                chunk = os.read(proc.stdout.fileno(), 65536)
                done = not chunk
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for raw in complete:
                    lines.append(raw.decode(errors="replace"))
                    answer = on_line(lines[-1])
                    if answer is not None:
                        proc.stdin.write(answer + "\n")
                        proc.stdin.flush()
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdin.close()
        proc.stdout.close()
    output = "\n".join(lines)
    assert proc.returncode == 0, f"browser scenario {scenario!r} failed:\n{output}"
    return lines


def cookie_of(lines: list[str]) -> str:
    """The session cookie the script reported."""
    return next(line.split(" ", 1)[1] for line in lines if line.startswith("cookie "))
