"""The page in a real headless browser (Debian's Chromium + chromedriver, driven by Selenium).

Chromium is a system package (``apt-get install chromium chromium-driver``; ``.ci/run`` installs
it). Without it the test skips, except under CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from hlynr_testing import missing_system_dependency

from hlynr.runs.lock import holder
from hlynr.runs.progress_log import read_progress
from tests.server.conftest import ENV, REPO, hlynr, wait_for

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, configs_dir: Path) -> Iterator[str]:
    """``hlynr serve`` on a free loopback port, as a separate process; yields its URL."""
    runs = tmp_path / "runs"
    runs.mkdir()
    port = free_port()
    log = tmp_path / "server.log"  # a file, not a pipe: a full pipe nobody reads blocks the server
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "hlynr", "serve", "--runs-dir", str(runs),
                                 "--configs-dir", str(configs_dir), "--port", str(port)],
                                cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as r:
                return json.loads(r.read())["ok"]
        except OSError:
            assert proc.poll() is None, log.read_text(errors="replace")
            return False

    try:
        wait_for(up, what="the server to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        print(f"hlynr serve printed:\n{log.read_text(errors='replace')[-4000:]}")


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:  # noqa: F821
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        missing_system_dependency(f"Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER})",
                                  "apt-get install chromium chromium-driver")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def _accept_confirm(driver) -> str:
    alert = wait_for(lambda: _alert(driver), timeout=10, what="the confirmation")
    text = alert.text
    alert.accept()
    return text


def _alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        return driver.switch_to.alert
    except NoAlertPresentException:
        return None


@pytest.mark.slow
@pytest.mark.timeout(900)  # three training runs and up to 10 bounded waits (90-180 s each)
def test_page_charts_saves_stops_starts_and_compares_runs(
        tmp_path: Path, configs_dir: Path, browser, server: str, trainer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    runs = tmp_path / "runs"
    run = runs / "tiny" / "live"
    proc = trainer("--config", str(configs_dir / "tiny.yaml"), "--run-dir", str(run))
    wait_for(lambda: holder(run) == proc.pid, what="the trainer to lock its run")
    css = lambda sel: browser.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    browser.get(server + "/")
    wait_for(lambda: css('tr[data-run="tiny/live"]'), what="the run in the list")[0].click()
    points = lambda: int(css("#chart-reward")[0].get_attribute("data-points") or 0)  # noqa: E731
    first = wait_for(points, what="reward points")
    wait_for(lambda: points() > first, what="the reward chart to gain points while training")
    wait_for(lambda: css("#run-status")[0].text.startswith("running"), what="running status")

    css("#btn-save")[0].click()
    assert "Save a checkpoint" in _accept_confirm(browser)
    note = wait_for(lambda: (t := css("#notice")[0].text).startswith("save tiny/live: done") and t,
                    what="the save answer on the page")
    checkpoint = note.split("(")[1].split(")")[0]
    assert (run / checkpoint / "model.zip").is_file()

    css("#btn-stop")[0].click()
    assert "Stop tiny/live" in _accept_confirm(browser)
    wait_for(lambda: css("#notice")[0].text.startswith("stop tiny/live: done"), what="stop answer")
    wait_for(lambda: css("#run-status")[0].text == "stopped", what="the page to show stopped")
    assert proc.wait(timeout=60) == 0
    end = read_progress(run / "progress.jsonl")[-1]
    assert end["event"] == "end" and end["status"] == "stopped"
    assert any((run / "checkpoints").iterdir())
    assert css("#btn-resume")[0].is_enabled() and not css("#btn-stop")[0].is_enabled()
    resumed = hlynr("train", "--resume", str(run), "--set", f"total_timesteps={end['timesteps'] + 512}")
    assert resumed.returncode == 0, resumed.stderr
    wait_for(lambda: css("#run-status")[0].text == "completed", what="completed after resume")

    css("#btn-start")[0].click()
    wait_for(lambda: len(Select(css("#start-config")[0]).options) == 2, what="the config list")
    Select(css("#start-config")[0]).select_by_value("classic/short.yaml")
    css("#start-overrides")[0].send_keys("seed=5")
    css("#start-submit")[0].click()
    assert "classic/short.yaml with seed=5" in _accept_confirm(browser)
    wait_for(lambda: css("#run-title")[0].text.startswith("short/"), what="the started run shown")
    started = css("#run-title")[0].text
    wait_for(lambda: css("#run-status")[0].text == "completed", timeout=180,
             what="the started run to complete")
    for rid in ("tiny/live", started):
        css(f'tr[data-run="{rid}"] input.cmp')[0].click()
    # charts are drawn while on screen: scroll to the comparison, as a user would
    browser.execute_script("document.querySelector('#compare').scrollIntoView()")
    legend = lambda: sorted(browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#chart-compare .u-legend .u-series')]"
        ".map(e => e.textContent.trim())"))
    wait_for(lambda: legend() == sorted([started, "tiny/live"]),
             what="both runs on the comparison chart")
    assert int(css("#chart-compare")[0].get_attribute("data-points")) > 4
    browser.execute_script("window.scrollTo(0, 0); document.querySelector('#detail').scrollTo(0, 0)")
    shot = tmp_path / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
