"""A Sphinx extension that makes the built book work offline: local MathJax and notebook downloads.

* MathJax 3 is served from the book's own ``_static/mathjax`` (copied from the PyPI package
  ``django-static-mathjax``, which ships the MathJax 3.2.2 ES5 bundle and fonts) instead of a CDN, so
  equations typeset with no network (a reader's laptop offline, CI, the browser test).
* Every notebook chapter gets a ``.ipynb`` download next to the ``.md`` one: the executed notebook that
  myst-nb wrote during the build (outputs included), published under ``_sources/`` where the
  sphinx-book-theme download button looks for it.
* Widget outputs (tqdm progress bars, the explorer) show their static fallback: the ipywidgets
  HTML manager that would animate them is a CDN script (require.js and ``@jupyter-widgets/html-manager``),
  which fails offline with console errors; without a kernel those widgets could not compute anyway.
* Cross-references in docstrings (the API reference) that name an object by the path a package
  re-exports it under (``coinfer.system.Scenario``) or by its bare name (``rate_distortion_bound``)
  are resolved to the one documented object, when exactly one matches.
* Two console errors of the theme stack are removed: an inline script registered twice (sphinx-thebe's
  ``const THEBE_JS_URL``, a SyntaxError on every page) is written once, and the colour mode defaults to
  ``auto`` (pydata-sphinx-theme otherwise logs "Got invalid theme mode" on a reader's first visit).

Enable it with ``sphinx: extra_extensions: [coinfer.sphinxext]`` in ``_config.yml``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

__all__ = ["mathjax_folder", "setup"]

#: The MathJax component loaded by every page (TeX and MathML input, CommonHTML output).
MATHJAX_COMPONENT = "tex-mml-chtml.js"


def mathjax_folder() -> Path:
    """The folder of the MathJax 3 ES5 distribution installed by ``django-static-mathjax``."""
    from sphinx.errors import ExtensionError

    spec = importlib.util.find_spec(
        "mathjax"
    )  # finds the folder without importing (no Django needed)
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    if folder is None or not (folder / MATHJAX_COMPONENT).is_file():
        raise ExtensionError(
            "coinfer.sphinxext needs a local MathJax 3: pip install django-static-mathjax "
            f"(looked for {MATHJAX_COMPONENT} in {folder})"
        )
    return folder


def _offline_config(app, config) -> None:
    mathjax_folder()  # fail early, before any page is written, if MathJax is missing
    # A relative mathjax_path is read relative to _static by sphinx.ext.mathjax.
    config.mathjax_path = f"mathjax/{MATHJAX_COMPONENT}"
    if hasattr(config, "nb_ipywidgets_js"):
        config.nb_ipywidgets_js = {}


def _fix_page_scripts(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"  # pydata-sphinx-theme reads it from html_context
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # Inline scripts come with filename None or "" depending on the extension: the same script.
        key = (
            getattr(script, "filename", script) or "",
            repr(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: Sphinx restores the page-independent list after writing each page.
    scripts[:] = unique


#: The book's own style sheet: code at 13 px, so that a code line of 88 characters (the limit the
#: chapters keep) fits the text column at a 1400 px window without scrolling sideways.
BOOK_CSS = """div.cell_input pre, div.highlight pre { font-size: 13px; }
"""


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / "coinfer.css").write_text(BOOK_CSS)
    source = mathjax_folder()
    # Only the component we load; it fetches its fonts and TeX extensions from the folders beside it.
    bundles = {p.name for p in source.glob("*.js")} - {MATHJAX_COMPONENT}
    shutil.copytree(
        source,
        Path(app.outdir) / "_static" / "mathjax",
        ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in bundles],
        dirs_exist_ok=True,
    )


def _offer_notebook(app, pagename, templatename, context, doctree) -> None:
    if doctree is None or app.builder.format != "html":
        return
    if "kernelspec" not in app.env.metadata.get(pagename, {}):
        return  # not a notebook chapter
    executed = Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"
    if not executed.is_file():
        return
    target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(executed, target)
    context["ipynb_source"] = f"{pagename}.ipynb"


def _resolve_python_alias(app, env, node, contnode):
    """Resolve a missing ``py`` reference to the one documented object it can only mean.

    Tries, in order: the object a re-exporting package path points to (``coinfer.system.Scenario``
    is ``coinfer.system.scenario.Scenario``), then a unique documented object whose dotted name ends
    with the target (``rate_distortion_bound``, ``ModelProfile.device_flops``). Returns ``None``
    (Sphinx warns) when nothing or more than one object matches.
    """
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    domain = env.get_domain("py")
    objects = domain.objects  # full name -> ObjectEntry
    candidates: list[str] = []
    parts = target.lstrip("~.").split(".")
    if parts[0] == "coinfer":
        import importlib

        for k in range(len(parts) - 1, 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:k]))
                for attr in parts[k:]:
                    obj = getattr(obj, attr)
            except (ImportError, AttributeError, ValueError):
                continue
            qualname = getattr(obj, "__qualname__", None)
            home = getattr(obj, "__module__", None)
            if qualname and home and f"{home}.{qualname}" in objects:
                candidates = [f"{home}.{qualname}"]
            else:  # data: a documented name with the same last part inside the same package
                package = ".".join(parts[:k])
                candidates = [
                    full
                    for full in objects
                    if full.startswith(package + ".") and full.endswith("." + parts[-1])
                ]
            break
    if not candidates:
        suffix = "." + ".".join(parts)
        candidates = [full for full in objects if full.endswith(suffix)]
    allowed = set(domain.objtypes_for_role(node.get("reftype", ""), ()) or ())
    if allowed:
        candidates = [c for c in candidates if objects[c].objtype in allowed] or candidates
    if len(candidates) != 1:
        return None
    entry = objects[candidates[0]]
    from sphinx.util.nodes import make_refnode

    return make_refnode(
        app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, candidates[0]
    )


def _plain_data_docstrings(app, what, name, obj, options, lines) -> None:
    """Undo napoleon's reading of ``Sections of a file: ...`` as ``type: description``.

    Module constants are documented with ``#:`` comments in plain sentences; napoleon's Google style
    takes the words before the first colon of an attribute docstring for its type and moves them to
    a ``:type:`` field. A type has no spaces; words do: those are put back where they were.
    """
    if what not in ("data", "attribute", "property"):
        return
    for i, line in enumerate(lines):
        if line.startswith(":type: ") and " " in line[len(":type: ") :].strip():
            words = line[len(":type: ") :].strip()
            del lines[i]
            first = next((k for k, text in enumerate(lines) if text.strip()), None)
            if first is not None:
                lines[first] = f"{words}: {lines[first]}"
            while lines and not lines[-1].strip():
                lines.pop()
            return


def setup(app):
    """Register the extension with Sphinx."""
    app.connect("autodoc-process-docstring", _plain_data_docstrings, priority=600)
    app.connect("missing-reference", _resolve_python_alias)
    app.connect("config-inited", _offline_config)
    app.connect("html-page-context", _fix_page_scripts, priority=900)
    # Before sphinx-book-theme builds its header buttons (default priority 500).
    app.connect("html-page-context", _offer_notebook, priority=400)
    app.connect("build-finished", _copy_mathjax)
    app.add_css_file("coinfer.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
