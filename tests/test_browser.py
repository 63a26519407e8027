"""The built HTML book, opened page by page in headless Chromium.

For every chapter in ``_toc.yml`` the page is served from the built site over loopback and checked for:
no console errors, every equation typeset by MathJax (no raw ``$...$`` left, no MathJax error node),
every image loaded, every internal link and every theorem/equation/figure reference pointing to an
existing page and anchor. Screenshots of the introduction and one results chapter go to ``screenshots/``
(git-ignored).

The site is read from ``$COINFER_HTML_DIR`` (default ``_build/html``). If it is absent, or Chromium,
chromedriver or selenium is missing, the test is skipped, unless ``COINFER_REQUIRE_BROWSER=1`` (set by
CI), which turns the skip into a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from conftest import toc_chapters  # noqa: E402

HTML_DIR = Path(os.environ.get("COINFER_HTML_DIR") or ROOT / "_build" / "html")
REQUIRED = os.environ.get("COINFER_REQUIRE_BROWSER") == "1"
SCREENSHOTS = ROOT / "screenshots"
#: Pages photographed: the introduction and one results chapter.
SCREENSHOT_PAGES = ("book/intro", "book/benchmarks")
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1600",
)
PAGE_TIMEOUT = 60  # s, for a page and its MathJax to finish


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"COINFER_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _pages() -> list[str]:
    """Docnames of the chapters, e.g. ``book/intro``."""
    return [str(p.relative_to(ROOT).with_suffix("")) for p in toc_chapters(ROOT)]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (keep pytest output clean)
        pass


@pytest.fixture(scope="module")
def site():
    """Base URL of the built book, served from ``HTML_DIR`` on 127.0.0.1 at a free port."""
    if not (HTML_DIR / "index.html").is_file():
        _unavailable(f"no built book at {HTML_DIR} (build it with jupyter-book build .)")
    handler = functools.partial(_QuietHandler, directory=str(HTML_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium driven by selenium, with a fresh profile and browser console logging."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed")
    chromium = _binary("chromium", "chromium-browser", "/usr/bin/chromium")
    driver_bin = _binary("/usr/bin/chromedriver", "chromedriver")
    if chromium is None or driver_bin is None:
        _unavailable("chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    profile = tempfile.mkdtemp(prefix="coinfer-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# Wait for MathJax (if the page loads it) to finish typesetting; report what happened.
_WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const loads = document.querySelector('script[src*="mathjax"], script[src*="MathJax"]');
if (!loads) { done('absent'); return; }
const start = Date.now();
(function poll() {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(() => done('typeset'), (e) => done('failed: ' + e));
  } else if (Date.now() - start > 30000) {
    done('never started');
  } else {
    setTimeout(poll, 100);
  }
})();
"""

# Text of the article outside code, MathJax output and script tags: where raw TeX must not remain.
_PROSE_TEXT = """
const root = document.querySelector('main') || document.body;
const clone = root.cloneNode(true);
clone.querySelectorAll('pre, code, script, style, mjx-container, .MathJax, mjx-assistive-mml, '
  + '.cell_output, .output, textarea').forEach((n) => n.remove());
return clone.innerText;
"""

_IMAGES = """
return Array.from(document.images).map((img) => [img.currentSrc || img.src, img.complete, img.naturalWidth]);
"""

_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map((a) => [a.getAttribute('href'), a.href, a.className]);"


@functools.lru_cache(maxsize=None)
def _anchors(path: Path) -> frozenset[str]:
    """Every ``id`` and ``name`` attribute in a built HTML file."""
    text = path.read_text(errors="replace")
    return frozenset(re.findall(r'\s(?:id|name)\s*=\s*"([^"]+)"', text))


def _target_file(url: str, base: str) -> Path | None:
    """The file under ``HTML_DIR`` that ``url`` (absolute, on the test server) points to."""
    path = unquote(urlparse(url).path)
    rel = path[len(urlparse(base).path):] if path.startswith(urlparse(base).path) else path.lstrip("/")
    target = HTML_DIR / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    return target


def _broken_links(links, base: str) -> list[str]:
    broken = []
    for href, absolute, _cls in links:
        if not href or href.startswith(("mailto:", "javascript:")):
            continue
        if not absolute.startswith(base):
            continue  # external (bibliography DOIs...): not ours to check offline
        url, fragment = urldefrag(absolute)
        target = _target_file(url, base)
        if not target.is_file():
            broken.append(f"{href} -> missing file {target.relative_to(HTML_DIR)}")
            continue
        if fragment and target.suffix == ".html" and unquote(fragment) not in _anchors(target):
            broken.append(f"{href} -> no id {fragment!r} in {target.relative_to(HTML_DIR)}")
    return broken


def _is_notebook(page: str) -> bool:
    """Whether the chapter's source is a notebook (MyST markdown with a kernelspec)."""
    head = (ROOT / f"{page}.md").read_text().split("\n---", 1)[0]
    return "kernelspec:" in head


def _severe_console(driver) -> list[str]:
    # Chromium asks every site for /favicon.ico on its own; the book declares none, so that 404 is the
    # browser's request, not a broken link of the page.
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "/favicon.ico" not in entry["message"]
    ]


@pytest.mark.parametrize("page", _pages())
def test_page_renders(page, site, browser):
    url = urljoin(site, f"{page}.html")
    if not (HTML_DIR / f"{page}.html").is_file():
        pytest.fail(f"{page}.html is missing from the built book at {HTML_DIR}")
    browser.get_log("browser")  # drop messages of the previous page
    browser.get(url)
    mathjax = browser.execute_async_script(_WAIT_MATHJAX)
    math_nodes = browser.execute_script("return document.querySelectorAll('.math').length;")
    problems = []
    if math_nodes and mathjax != "typeset":
        problems.append(f"{math_nodes} math nodes but MathJax {mathjax}")
    typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length;")
    if mathjax == "typeset" and typeset < math_nodes:
        problems.append(f"only {typeset} of {math_nodes} math nodes typeset")
    errors = browser.execute_script(
        "return Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))"
        ".map((n) => n.getAttribute('data-mjx-error') || n.textContent);"
    )
    problems += [f"MathJax error: {e}" for e in errors]
    prose = browser.execute_script(_PROSE_TEXT)
    raw = re.findall(r"\$\$?[^$\n]{1,80}\$\$?|\\\(|\\\[|\\begin\{", prose)
    problems += [f"raw TeX left on the page: {r!r}" for r in raw[:5]]
    for src, complete, width in browser.execute_script(_IMAGES):
        if not complete or not width:
            problems.append(f"image not loaded: {src}")
    links = browser.execute_script(_LINKS)
    problems += [f"broken link: {b}" for b in _broken_links(links, site)]
    # Download buttons: the source for every page, the notebook for every notebook chapter.
    hrefs = {href for href, _abs, _cls in links}
    wanted = [".md"] + ([".ipynb"] if _is_notebook(page) else [])
    for suffix in wanted:
        name = f"_sources/{page}{suffix}"
        if not any(h.endswith(name) for h in hrefs):
            problems.append(f"no download link to {name}")
    problems += [f"console error: {m}" for m in _severe_console(browser)]
    if page in SCREENSHOT_PAGES:
        SCREENSHOTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"{page.replace('/', '-')}.png"))
    assert not problems, f"{page}:\n" + "\n".join(problems)


def test_references_resolve(site):
    """Theorem, equation and figure references on every page point to an existing anchor."""
    problems = []
    for page in _pages():
        path = HTML_DIR / f"{page}.html"
        if not path.is_file():
            problems.append(f"{page}.html missing")
            continue
        text = path.read_text(errors="replace")
        # Sphinx marks an unresolved reference with a "xref" span instead of a link; -n makes it a
        # warning at build time, and this is the check on the HTML itself.
        problems += [f"{page}: unresolved reference {m!r}" for m in
                     re.findall(r'<span class="xref[^"]*">([^<]*)</span>', text)]
        problems += [f"{page}: missing equation reference" for _ in re.findall(r"\?\?\?", text)]
        refs = re.findall(r'<a class="reference internal" href="([^"]*)"', text)
        links = [(h, urljoin(urljoin(site, f"{page}.html"), h), "reference internal") for h in refs]
        problems += [f"{page}: {b}" for b in _broken_links(links, site)]
    assert not problems, "\n".join(problems)
