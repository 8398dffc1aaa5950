"""Replays on the page in a headless browser: the replay callback's drawings of a tiny run's
evaluations are shown, and "Record replay" records one whose video and still appear when written.
Needs Chromium, as ``test_browser.py``."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from tests.server.conftest import wait_for
from tests.server.test_browser import browser, server  # noqa: F401  (fixtures)
from tests.server.test_replays import INTERCEPT


@pytest.mark.slow
def test_record_replay_shows_its_video_and_still(tmp_path: Path, browser, server: str) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    from hlynr.config import validate_config
    from hlynr.training.runner import start_run

    run = start_run(validate_config(INTERCEPT), runs_dir=tmp_path / "runs").run_dir
    rid = run.relative_to(tmp_path / "runs").as_posix()
    css = lambda sel: browser.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    browser.get(server + "/")
    wait_for(lambda: css(f'tr[data-run="{rid}"]'), what="the run in the list")[0].click()
    shown = lambda: [e.get_attribute("data-replay") for e in css("#replay-list .replay")]  # noqa: E731
    wait_for(lambda: shown() == ["eval_128", "eval_64"], what="the evaluation replays")
    assert len(css('.replay[data-replay="eval_64"] img')) == 2  # the GIF and the still
    assert "evaluation at 64 timesteps" in css('.replay[data-replay="eval_64"]')[0].text

    def explain() -> str:  # what the page, the API and the server said, for a failure message
        try:
            with urllib.request.urlopen(f"{server}/api/runs/{rid}/replays", timeout=10) as r:
                api = r.read().decode()
        except OSError as exc:
            api = f"no answer ({exc})"
        log = (tmp_path / "server.log").read_text(errors="replace")[-2000:]
        return (f"notice: {css('#notice')[0].text!r}; button enabled: "
                f"{css('#btn-replay')[0].is_enabled()}; page shows {shown()}\nAPI: {api}\n"
                f"server printed: {log}\nbrowser log: {browser.get_log('browser')}")

    button = css("#btn-replay")[0]
    wait_for(button.is_enabled, what="the Record replay button")
    assert "final model" in button.get_attribute("title")
    # A click on the element itself, not at its coordinates: the page's layout may still move
    # while images load, and a click at stale coordinates lands elsewhere without an error.
    browser.execute_script("arguments[0].click()", button)
    # "recording a replay of RUN (...)", or already "replay ID of RUN: done" after a fast recording;
    # a refusal reads "replay of RUN: error: ..."
    note = wait_for(lambda: (t := css("#notice")[0].text).startswith(("recording a", "replay "))
                    and t, what="the answer to Record replay", explain=explain)
    assert note.startswith("recording a replay of") or note.endswith(": done"), note
    wait_for(lambda: len(shown()) == 3, what="the new replay in the list", explain=explain)
    new = shown()[0]
    box = f'.replay[data-replay="{new}"]'
    assert css(f"{box} .badge")[0].text == "recording" and not css("#btn-replay")[0].is_enabled()
    wait_for(lambda: css(f"{box} video") and css(f"{box} img"), timeout=180,
             what="the replay's video and still on the page")
    wait_for(lambda: css(f"{box} .badge")[0].text == "done", what="the replay done")
    loaded = ("const v = document.querySelector(arguments[0] + ' video'), i = document.querySelector("
              "arguments[0] + ' img'); return [v.readyState, v.videoWidth, i.complete, i.naturalWidth]")
    state = wait_for(lambda: (s := browser.execute_script(loaded, box))[0] >= 1 and s[3] > 0 and s,
                     what="the video and the still loaded")
    assert state[1] == 640 and state[2]
    assert css("#btn-replay")[0].is_enabled()
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
