"""Run groups on the page in a headless browser: a group row with its seeds nested (folding), and
a group on the comparison chart as its mean with a band. Needs Chromium, as ``test_browser.py``."""

from __future__ import annotations

from pathlib import Path

import yaml

from hlynr.runs.group import RunGroup
from tests.server.conftest import TINY, wait_for
from tests.server.test_browser import browser, server  # noqa: F401  (fixtures)
from tests.server.test_groups_api import seed_run


def test_a_group_is_listed_with_its_seeds_and_compared_as_a_band(
        tmp_path: Path, browser, server: str) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    runs = tmp_path / "runs"  # the server's runs folder
    grp = runs / "grp"
    for seed, rates in {0: [0.2, 0.4, 0.6], 1: [0.3, 0.5, 0.7], 2: [0.1, 0.6, 0.8]}.items():
        seed_run(grp / f"seed_{seed}", rates)
    (grp / "config.yaml").write_text(yaml.safe_dump(TINY))
    RunGroup(grp, "grp", "CartPole-v1", "PPO", (0, 1, 2)).write()
    seed_run(runs / "plain" / "run1", [0.1, 0.3, 0.5])

    css = lambda sel: browser.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731
    rows = lambda: [(tr.get_attribute("data-group") or tr.get_attribute("data-run"))  # noqa: E731
                    for tr in css("#runs tbody tr") if tr.is_displayed()]
    browser.get(server + "/")
    wait_for(lambda: "grp/seed_2" in rows(), what="the group's seeds in the list")
    order = rows()
    at = order.index("grp")
    assert order[at + 1:at + 4] == ["grp/seed_0", "grp/seed_1", "grp/seed_2"]  # nested under it
    assert "plain/run1" in order
    assert css('tr[data-run="grp/seed_1"]')[0].get_attribute("class").split() == ["seed"]
    css('tr[data-group="grp"]')[0].click()  # fold
    wait_for(lambda: "grp/seed_0" not in rows(), what="the seeds folded away")
    css('tr[data-group="grp"]')[0].click()
    wait_for(lambda: "grp/seed_0" in rows(), what="the seeds unfolded")

    css('tr[data-group="grp"] input.cmp')[0].click()
    css('tr[data-run="plain/run1"] input.cmp')[0].click()
    Select(css("#compare-metric")[0]).select_by_value("success.eval")
    browser.execute_script("document.querySelector('#compare').scrollIntoView()")
    legend = lambda: browser.execute_script(  # noqa: E731
        "return [...document.querySelectorAll('#chart-compare .u-legend .u-series')]"
        ".map(e => e.textContent.trim())")
    wait_for(lambda: legend() == ["grp: mean of 3 seeds", "grp: 95% band high", "grp: 95% band low",
                                  "plain/run1"], what="the group's mean and band, and the run")
    # mean, band high and low at the 3 common timesteps, and the run's 3 evaluations
    assert int(css("#chart-compare")[0].get_attribute("data-points")) == 12
    Select(css("#compare-band")[0]).select_by_value("minmax")
    wait_for(lambda: "grp: min–max high" in legend(), what="the min-max band")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
