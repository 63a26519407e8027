"""The book's offline Sphinx extension: local MathJax, notebook downloads, de-duplicated page scripts."""

from __future__ import annotations

import types

from sphinx.builders.html._assets import _JavaScript

from coinfer.app import sphinxext


def test_mathjax_is_installed_locally():
    folder = sphinxext.mathjax_folder()
    assert (folder / sphinxext.MATHJAX_COMPONENT).is_file()
    # the component loads its fonts and TeX extensions from beside it
    assert (folder / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
    assert (folder / "input" / "tex" / "extensions").is_dir()


def test_config_points_mathjax_at_the_local_copy():
    config = types.SimpleNamespace(
        mathjax_path="https://cdn.example/mathjax.js", nb_ipywidgets_js={"x": {}}
    )
    sphinxext._offline_config(None, config)
    assert config.mathjax_path == f"mathjax/{sphinxext.MATHJAX_COMPONENT}"
    assert config.nb_ipywidgets_js == {}  # no CDN widget manager


def test_page_scripts_are_written_once():
    body = "const THEBE_JS_URL = 'x';"
    scripts = [
        _JavaScript("_static/a.js"),
        _JavaScript(None, body=body),
        _JavaScript("_static/b.js"),
        _JavaScript("", body=body),  # the same inline script, registered a second time
        _JavaScript("_static/a.js"),
    ]
    context = {"script_files": scripts, "default_mode": ""}
    sphinxext._fix_page_scripts(None, "book/intro", "page.html", context, None)
    assert [(s.filename or "", s.attributes.get("body")) for s in context["script_files"]] == [
        ("_static/a.js", None),
        ("", body),
        ("_static/b.js", None),
    ]
    assert (
        context["script_files"] is scripts
    )  # edited in place, as Sphinx restores the list per page
    assert context["default_mode"] == "auto"
