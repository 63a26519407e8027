"""The built HTML book, opened page by page in headless Chromium.

For every chapter in ``_toc.yml`` the page is served from the built site over loopback and checked for:
no console errors, every equation typeset by MathJax (no raw ``$...$`` left, no MathJax error node),
every image loaded, every internal link and every theorem/equation/figure reference pointing to an
existing page and anchor; and the reader's layout at 1400 px: no display equation wider than its
container, no visible code cell that scrolls sideways, no visible ``glue(`` bookkeeping, and no figure
shrunk so far that its text falls below 8 pt (figures are drawn with the book's style,
:data:`coinfer.app.book.BOOK_STYLE`, whose smallest font is checked in ``tests/test_book_style.py``). Screenshots of the introduction and one results chapter go to ``screenshots/``
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
    "--window-size=1400,1600",
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
        _unavailable(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
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

# The reader's layout: overflowing display maths, code cells that scroll sideways, visible glue calls,
# and figures scaled down in the page (natural width / shown width).
_LAYOUT = """
const shown = (n) => n.offsetParent !== null && n.getClientRects().length > 0;
const out = [];
document.querySelectorAll('mjx-container[display="true"]').forEach((m) => {
  if (!shown(m)) return;
  const box = m.closest('.math') || m.parentElement;
  if (m.scrollWidth > m.clientWidth + 1 || box.scrollWidth > box.clientWidth + 1
      || m.getBoundingClientRect().right > box.getBoundingClientRect().right + 1) {
    out.push('display equation wider than its container: '
             + (m.textContent || '').slice(0, 60));
  }
});
document.querySelectorAll('div.cell_input pre').forEach((pre) => {
  if (!shown(pre) || pre.closest('details:not([open])') || !pre.innerText.trim()) return;
  if (pre.scrollWidth > pre.clientWidth + 1) {
    out.push('code cell scrolls sideways: ' + pre.innerText.split('\\n')[0].slice(0, 60));
  }
  if (pre.closest('div.cell_input') && /\\bglue\\(/.test(pre.innerText)) {
    out.push('visible glue( call: ' + pre.innerText.split('\\n')[0].slice(0, 60));
  }
});
const scales = [];
document.querySelectorAll('figure img, div.cell_output img').forEach((img) => {
  if (!shown(img) || !img.naturalWidth) return;
  scales.push([img.currentSrc || img.src, img.clientWidth / img.naturalWidth]);
});
return [out, scales];
"""


#: Smallest on-screen scale of a figure image before its smallest font (from the book's style, at the
#: style's dpi) falls below 8 pt at 96 CSS px per inch.
def _min_figure_scale() -> float:
    from coinfer.app.book import BOOK_STYLE, smallest_font_pt

    return (8.0 * 96.0 / 72.0) / (smallest_font_pt() * BOOK_STYLE["figure.dpi"] / 72.0)


def layout_problems(driver) -> list[str]:
    """What the reader would see go wrong in the page now open in ``driver`` (see ``_LAYOUT``)."""
    found, scales = driver.execute_script(_LAYOUT)
    limit = _min_figure_scale()
    found += [
        f"figure shown at {scale:.2f} of its size: text below 8 pt ({src})"
        for src, scale in scales
        if scale < limit
    ]
    return found


_LINKS = "return Array.from(document.querySelectorAll('a[href]')).map((a) => [a.getAttribute('href'), a.href, a.className]);"


@functools.cache
def _anchors(path: Path) -> frozenset[str]:
    """Every ``id`` and ``name`` attribute in a built HTML file."""
    text = path.read_text(errors="replace")
    return frozenset(re.findall(r'\s(?:id|name)\s*=\s*"([^"]+)"', text))


def _target_file(url: str, base: str) -> Path | None:
    """The file under ``HTML_DIR`` that ``url`` (absolute, on the test server) points to."""
    path = unquote(urlparse(url).path)
    rel = (
        path[len(urlparse(base).path) :]
        if path.startswith(urlparse(base).path)
        else path.lstrip("/")
    )
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
    problems += layout_problems(browser)
    if page in SCREENSHOT_PAGES:
        SCREENSHOTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(SCREENSHOTS / f"{page.replace('/', '-')}.png"))
    assert not problems, f"{page}:\n" + "\n".join(problems)


_PLANTED = (
    """<html><body><main style="width:600px">
<div class="math"><mjx-container display="true" style="display:block;overflow-x:auto">
<span style="display:inline-block;width:2000px">a very long equation</span></mjx-container></div>
<div class="cell_input"><pre style="overflow-x:auto;width:300px">glue("x", 1); """
    + "x" * 300
    + """</pre></div>
<figure><img style="width:100px" src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAMgAAAABCAIAAAAU3Xa1AAAAD0lEQVR4nGNgGAWjgAYAAAJZAAEC2baZAAAAAElFTkSuQmCC"></figure>
</main></body></html>"""
)


def test_layout_checks_catch_planted_violations(browser, tmp_path):
    """The layout checks are not vacuous: a page with one of each violation fails all four."""
    page = tmp_path / "planted.html"
    page.write_text(_PLANTED)
    browser.get(page.as_uri())
    found = layout_problems(browser)
    joined = "\n".join(found)
    assert "display equation wider" in joined
    assert "scrolls sideways" in joined
    assert "visible glue(" in joined
    assert "text below 8 pt" in joined


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
        problems += [
            f"{page}: unresolved reference {m!r}"
            for m in re.findall(r'<span class="xref[^"]*">([^<]*)</span>', text)
        ]
        problems += [f"{page}: missing equation reference" for _ in re.findall(r"\?\?\?", text)]
        refs = re.findall(r'<a class="reference internal" href="([^"]*)"', text)
        links = [(h, urljoin(urljoin(site, f"{page}.html"), h), "reference internal") for h in refs]
        problems += [f"{page}: {b}" for b in _broken_links(links, site)]
    assert not problems, "\n".join(problems)
