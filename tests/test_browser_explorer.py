"""The explorer of the built HTML book, driven in headless Chromium: sliders move, the figure follows.

Uses the served site and the browser of ``test_browser.py`` (same skips: no built book, no Chromium or
no selenium skips the test, unless ``COINFER_REQUIRE_BROWSER=1`` turns the skip into a failure). The
page is ``book/explorer.html`` under ``$COINFER_HTML_DIR`` (default ``_build/html``).
"""

from __future__ import annotations

import json
import time
from urllib.parse import urljoin

import pytest
from test_browser import HTML_DIR, _severe_console, _unavailable, browser, site  # noqa: F401

PAGE = "book/explorer"
UID = "coinfer-explorer"
TIMEOUT = 60  # s, for the page and its figure

# What the page shows right now: the slider positions, the summary and the plotted numbers.
_STATE = f"""
const root = document.getElementById("{UID}");
const plot = document.getElementById("{UID}-plot");
if (!root || !plot || !plot.data || !root.dataset.state) return null;
return {{
  state: root.dataset.state,
  summary: root.querySelector(".cx-summary").textContent,
  infeasible: root.querySelector(".cx-summary").classList.contains("cx-infeasible"),
  data: JSON.stringify(plot.data.map((t) => [t.x, t.y])),
  readouts: Array.from(root.querySelectorAll("[data-readout]")).map((n) => n.textContent),
}};
"""


def _wait_state(driver, previous=None) -> dict:
    """The page's state, once the figure is drawn (and differs from ``previous`` if given)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        state = driver.execute_script(_STATE)
        if state is not None and (previous is None or state["state"] != previous["state"]):
            return state
        time.sleep(0.1)
    pytest.fail(
        f"the explorer did not {'draw' if previous is None else 'change'} within {TIMEOUT} s"
    )


def _slider(driver, axis: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'#{UID} input[data-axis="{axis}"]')


@pytest.fixture(scope="module")
def explorer_page(site, browser):  # noqa: F811  (fixtures of test_browser)
    if not (HTML_DIR / f"{PAGE}.html").is_file():
        _unavailable(f"{PAGE}.html is missing from the built book at {HTML_DIR}")
    browser.get_log("browser")
    browser.get(urljoin(site, f"{PAGE}.html"))
    return browser


def test_slider_moves_change_the_figure(explorer_page):
    from selenium.webdriver.common.keys import Keys

    driver = explorer_page
    first = _wait_state(driver)
    assert "split s = " in first["summary"] and not first["infeasible"], first["summary"]
    assert first["readouts"][:3] == ["200 ms", "10 mJ", "100 m"], first["readouts"]

    # Loosen the latency budget one notch with the keyboard, as a reader would.
    latency = _slider(driver, "latency")
    latency.send_keys(Keys.ARROW_RIGHT)
    looser = _wait_state(driver, first)
    assert json.loads(looser["state"])["latency"] == json.loads(first["state"])["latency"] + 1
    assert looser["readouts"][0] == "500 ms"
    assert looser["data"] != first["data"], "the figure did not change"
    assert looser["summary"] != first["summary"]
    rho = [
        float(line.split("=")[1])
        for s in (first, looser)
        for line in s["summary"].splitlines()
        if line.startswith("pruning ratio")
    ]
    assert rho[1] <= rho[0]  # a looser latency budget never needs more pruning

    # Crowd the server: at the largest load the budgets cannot be met, and the page says why.
    users = _slider(driver, "users")
    latency.send_keys(Keys.ARROW_LEFT)
    _wait_state(driver, looser)
    before = driver.execute_script(_STATE)
    users.send_keys(Keys.END)
    crowded = _wait_state(driver, before)
    assert crowded["infeasible"] and "INFEASIBLE: latency" in crowded["summary"], crowded["summary"]
    assert crowded["data"] != before["data"]


def test_no_console_errors(explorer_page):
    _wait_state(explorer_page)
    errors = _severe_console(explorer_page)
    assert not errors, "\n".join(errors)
