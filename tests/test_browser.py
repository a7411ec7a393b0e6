"""The widget lab in a real browser: Voilà serves app/style_lab.ipynb, Playwright drives Debian's Chromium.

The test moves the steps slider with the keyboard, presses Run, waits until the live image changes and the
loss plot appears, presses Stop and checks that the lab says it stopped and kept the partial result. A
screenshot is left in test-artifacts/browser_lab.png (git-ignored) for a person to look at.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from nst_edu.teaching.widgets import DEFAULT_CONFIG

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
KEY_PRESSES = 20  # ArrowRight on the steps slider: one step more each
# More steps than the default run, so that Stop comes while the run is still going.
STEPS_AFTER_KEYS = DEFAULT_CONFIG.steps + KEY_PRESSES


def _chromium() -> str | None:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    return shutil.which("chromium")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode}; see {ARTIFACTS / 'voila.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"voila did not answer on {url} within {timeout:.0f} s")


@pytest.fixture
def voila_url():
    """The lab served by Voilà on a free port of 127.0.0.1; the server and its kernels stop at the end."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = _free_port()
    with open(ARTIFACTS / "voila.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voila",
                "app/style_lab.ipynb",
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--port={port}",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_http(url, proc, timeout=60)
            yield url
        finally:
            proc.terminate()  # voila shuts its kernels down on SIGTERM
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@pytest.mark.browser
def test_lab_in_chromium(voila_url):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1300})
            page.goto(voila_url, timeout=60_000)
            # The kernel ran the notebook and sent the lab.
            page.wait_for_selector(".nst-lab-run", timeout=60_000)

            # No notebook code is visible: Voilà shows outputs only.
            assert "StyleLab()" not in page.inner_text("body")

            # Move the steps slider with the keyboard on its handle; the kernel's answer (the code box) proves
            # the value reached Python, not only the slider's readout.
            handle = page.locator(".nst-lab-steps .noUi-handle")
            handle.focus()
            for _ in range(KEY_PRESSES):
                handle.press("ArrowRight")
            assert page.inner_text(".nst-lab-steps .widget-readout").strip() == str(STEPS_AFTER_KEYS)
            page.wait_for_function(
                "n => document.querySelector('.nst-lab-code textarea').value.includes('steps=' + n)",
                arg=STEPS_AFTER_KEYS,
                timeout=20_000,
            )

            before = page.get_attribute(".nst-lab-preview", "src")
            page.click(".nst-lab-run")
            # The live image changes (a new blob URL per update) and the loss curves appear.
            page.wait_for_function(
                "old => { const e = document.querySelector('.nst-lab-preview');"
                " return e && e.getAttribute('src') && e.getAttribute('src') !== old; }",
                arg=before,
                timeout=60_000,
            )
            page.wait_for_selector(".nst-lab-losses", state="visible", timeout=30_000)
            page.wait_for_function(
                "() => document.querySelector('.nst-lab-losses').naturalWidth > 0", timeout=10_000
            )
            progress = page.inner_text(".nst-lab-progress")
            assert f"/{STEPS_AFTER_KEYS}" in progress, progress

            page.click(".nst-lab-stop")
            page.wait_for_function(
                "() => /Stopped after step|Done:/.test(document.querySelector('.nst-lab-status').innerText)",
                timeout=30_000,
            )
            status = page.inner_text(".nst-lab-status")
            # The loss plot of the stopped run is drawn after the status by the lab's plot thread.
            page.wait_for_selector(".nst-lab-losses.nst-lab-final", timeout=30_000)
            page.wait_for_timeout(200)  # the browser decodes the new image
            page.screenshot(path=str(ARTIFACTS / "browser_lab.png"), full_page=True)
        finally:
            browser.close()
    assert "Stopped after step" in status, status  # STEPS_AFTER_KEYS steps take longer than the waits above
    assert "partial result is kept" in status
