"""What the page shows at 1500x960 in headless Chromium is whole: axis labels inside their charts
(a 150,000 steps/s label, the last timestep label at the right edge), run ids and evaluations in
the run list not cut, and a run without a curriculum says so. Needs Chromium, as
``test_browser.py``; synthetic runs only (no training)."""

from __future__ import annotations

from pathlib import Path

import yaml

from hlynr.runs.progress_log import ProgressLog
from tests.server.conftest import TINY, wait_for
from tests.server.test_browser import browser, server  # noqa: F401  (fixtures)

LONG = "cartpole_ppo_with_a_rather_long_experiment_name/20261121-221500"
CURRICULUM = {**TINY, "callbacks": [*TINY["callbacks"],
                                    {"curriculum": {"mode": "frozen", "stages": [{}]}}]}

# Every label drawn on a chart's canvas, where it is drawn (CSS pixels) and the canvas width.
LABELS_JS = """
const out = [];
for (const [name, c] of Object.entries(window.hlynrCharts)) {
  const u = c.plot;
  if (!u) continue;
  const dpr = window.devicePixelRatio || 1;
  const width = u.ctx.canvas.width / dpr;
  const left = u.bbox.left / dpr, right = (u.bbox.left + u.bbox.width) / dpr;
  u.axes.forEach((ax, i) => {
    if (!ax.show || !ax._values) return;
    u.ctx.font = ax.font[0];
    ax._values.forEach((label, k) => {
      if (label === null || label === undefined || label === "") return;
      const w = u.ctx.measureText(String(label)).width / dpr;
      let lo, hi;
      if (ax.side === 2) { const x = left + u.valToPos(ax._splits[k], "x"); lo = x - w / 2; hi = x + w / 2; }
      else if (ax.side === 3) { hi = left - ax.ticks.size - ax.gap; lo = hi - w; }
      else { lo = right + ax.ticks.size + ax.gap; hi = lo + w; }
      out.push({chart: name, axis: i, side: ax.side, label: String(label), lo, hi, width,
                last: k === ax._values.length - 1});
    });
  });
}
return out;
"""


def fast_run(runs: Path, run_id: str, config: dict) -> None:
    """A finished run logged up to 1,000,000 timesteps at about 150,000 steps/s, its evaluations
    98.5 % successful."""
    folder = runs / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    log = ProgressLog(folder / "progress.jsonl")
    log.write("event", timesteps=0, event="start")
    for i in range(1, 51):
        t = 20_000 * i
        log.write("rollout", timesteps=t, total_timesteps=1_000_000, steps_per_s=149_000.0 + 60 * i,
                  ep_reward_mean=float(i), success_rate=0.5, ent_coef=0.0, learning_rate=3e-4,
                  stage=None, losses={"value_loss": 1.0 / i}, ep_rewards=[i - 0.5, i + 0.5])
        if i % 10 == 0:
            log.write("eval", timesteps=t, eval_mean_reward=float(i), eval_success_rate=0.985,
                      eval_success_ci_low=0.95, eval_success_ci_high=0.99)
    log.write("event", timesteps=1_000_000, event="end", status="completed", reason="test")


def test_labels_run_list_and_empty_charts_are_whole_at_1500x960(
        tmp_path: Path, browser, server: str) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    runs = tmp_path / "runs"
    fast_run(runs, LONG, TINY)
    fast_run(runs, "with_curriculum/20261122-000000", CURRICULUM)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1500, "height": 960, "deviceScaleFactor": 1, "mobile": False})
    css = lambda sel: browser.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    browser.get(server + "/")
    wait_for(lambda: css(f'tr[data-run="{LONG}"]'), what="the run in the list")[0].click()
    for chart in ("reward", "success", "losses", "rates", "sps"):
        browser.execute_script(f"document.querySelector('#chart-{chart}').scrollIntoView()")
        drawn = f"return !!window.hlynrCharts['{chart}'].plot"
        wait_for(lambda js=drawn: browser.execute_script(js), what=f"the {chart} chart drawn")
    labels = wait_for(lambda: (got := browser.execute_script(LABELS_JS)) and
                      {x["chart"] for x in got} >= {"reward", "success", "losses", "rates", "sps"}
                      and got, what="the axis labels")
    cut = [x for x in labels if x["lo"] < -0.5 or x["hi"] > x["width"] + 0.5]
    assert cut == [], f"labels cut at a chart's edge: {cut}"
    sps = [x for x in labels if x["chart"] == "sps" and x["side"] == 3]
    assert "150,000" in [x["label"] for x in sps], sps  # the label that read "0,000"
    last = [x for x in labels if x["side"] == 2 and x["last"]]
    assert {x["label"] for x in last} == {"1,000,000"}  # each chart's last label is at the right edge
    assert all(x["width"] - x["hi"] < 40 for x in last), last

    row = css(f'tr[data-run="{LONG}"]')[0]
    assert row.find_element(By.CSS_SELECTOR, ".id").text.replace("\n", "") == LONG
    assert row.find_element(By.CSS_SELECTOR, ".ev").text == "98.5%"
    overflowing = browser.execute_script(
        "return [...document.querySelectorAll('#runs th, #runs td, #runs td .seg')]"
        ".filter((e) => e.scrollWidth > e.clientWidth + 0.5 || e.getBoundingClientRect().right >"
        " document.querySelector('#list').getBoundingClientRect().right)"
        ".map((e) => e.className + ': ' + e.textContent)")
    assert overflowing == []

    stage_text = ("return getComputedStyle(document.querySelector('#chart-stage'), '::before')"
                  ".content")
    assert browser.execute_script(stage_text) == '"this run has no curriculum"'
    css('tr[data-run="with_curriculum/20261122-000000"]')[0].click()
    wait_for(lambda: css("#run-title")[0].text == "with_curriculum/20261122-000000",
             what="the run with a curriculum")
    wait_for(lambda: browser.execute_script(stage_text) == '"no data yet"',
             what="a curriculum run waiting for its stages")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_the_success_chart_draws_each_stage_of_a_mixed_curriculum(
        tmp_path: Path, browser, server: str) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    run_id = "mixed/20261122-000000"
    folder = tmp_path / "runs" / run_id
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(CURRICULUM))
    log = ProgressLog(folder / "progress.jsonl")
    log.write("event", timesteps=0, event="start")
    for i in range(1, 5):
        log.write("rollout", timesteps=100 * i, total_timesteps=400, success_rate=0.5,
                  stage_success={"converging": 0.2, "random": 0.8})
        log.write("eval", timesteps=100 * i, eval_success_rate=0.6,
                  eval_stages={"converging": {"success_rate": 0.3}, "random": {"success_rate": 0.9}})
    log.write("event", timesteps=400, event="end", status="completed", reason="test")
    browser.get(server + "/")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-run="{run_id}"]'),
             what="the run in the list")[0].click()
    labels = "return (window.hlynrCharts.success.plot?.series || []).map((s) => s.label)"
    got = wait_for(lambda: (ls := browser.execute_script(labels)) and len(ls) > 4 and ls,
                   what="the per-stage series drawn")
    assert {"converging (training)", "random (training)", "converging (evaluation)",
            "random (evaluation)", "evaluation"} <= set(got), got
