"""Browser tests of the composer: web/e2e/composer.mjs drives Debian's Chromium (playwright-core)
against a real suite's HTTP port, signed in with the suite's key — drawing, validation, deploy,
live view, templates, all under the api's Content-Security-Policy. Its
screenshots go to .helicase/screenshots/ (untracked); HELICASE_SCREENSHOTS_DIR=docs/screenshots
(`make screenshots`) refreshes the committed ones."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from helicase.devstack.settings import SCREENSHOTS_DIR
from helicase.devstack.testing import SuiteFactory

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "web" / "e2e" / "composer.mjs"
SCREENSHOTS = ROOT / SCREENSHOTS_DIR.read()
TIMEOUT = 420


@pytest.mark.timeout(TIMEOUT + 120)  # the suite's start-up on top of the script's own limit
def test_composer_in_a_real_browser(make_suite: SuiteFactory) -> None:
    assert (ROOT / "web" / "dist" / "index.html").is_file(), "web/dist is not built: make install"
    assert shutil.which("node"), "node is missing: make install"
    suite = make_suite()
    url = "http://" + suite.specs["api"].env["HELICASE_WEB_ADDR"]
    env = {
        **os.environ,
        "HELICASE_WEB_URL": url,
        "HELICASE_TOKEN": suite.token,
        "SCREENSHOT_DIR": str(SCREENSHOTS),
    }
    # Its own process group: whatever the script started (Chromium) is killed with it.
    proc = subprocess.Popen(
        ["node", str(SCRIPT)],
        cwd=ROOT / "web",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    print(output)
    api_log = suite.log("api")
    assert proc.returncode == 0, f"browser tests failed:\n{output}\n--- api log ---\n{api_log}"
