"""The web UI's files: everything they load comes from the package, nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import assay.server

SERVER = Path(assay.server.__file__).parent
STATIC = SERVER / "static"
TEMPLATES = SERVER / "templates"
SVG_NS = "http://www.w3.org/2000/svg"  # an XML namespace name, never fetched
URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)
LOCAL_REF = re.compile(r"""(?:src|href)="(/static/[^"]+)\"""")
IMPORT = re.compile(r"""^import .* from "(\./[^"]+)";$""", re.MULTILINE)


def ui_files() -> list[Path]:
    files = [p for p in [*STATIC.rglob("*"), *TEMPLATES.rglob("*")] if p.is_file()]
    assert len(files) >= 15  # templates, scripts, stylesheet, icons
    return files


def test_no_file_names_another_host() -> None:
    for path in ui_files():
        text = path.read_text(encoding="utf-8").replace(SVG_NS, "")
        assert not URL.findall(text), f"{path.name} refers to another host: {URL.findall(text)}"
        assert "@import" not in text and "@font-face" not in text, path.name


def test_every_page_template_loads_existing_static_files() -> None:
    from jinja2 import Environment, FileSystemLoader

    pages = {"login", "index", "label", "review", "dashboard", "video", "map"}
    pages |= {"manage", "project_new", "explore"}
    # "_name.html" files are pieces the pages include, not pages
    # the error page is plain HTML in the app's style: no script
    assert {p.stem for p in TEMPLATES.glob("[!_]*.html")} == pages | {"base", "error"}
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    marked = {"marking_levels": ["UNCLASSIFIED", "CUI"], "page_marking": "CUI/FLOOD"}
    for page in [*pages, "error"]:
        html = env.get_template(f"{page}.html").render(
            project="flood", project_title="Flood", **marked
        )
        refs = LOCAL_REF.findall(html)
        assert any(r.endswith(".css") for r in refs), page
        assert any(r.endswith(".js") for r in refs) == (page != "error"), page
        for ref in refs:
            assert (SERVER / ref.lstrip("/")).is_file(), f"{page}.html loads missing {ref}"
        # every page, the log-in and error pages too (a marked system marks every screen):
        # a banner top and bottom, showing the page's marking in the HTML, before any script
        assert html.count('class="marking-banner') == 2, page
        for where in ("top", "bottom"):
            banner = f'<div class="marking-banner {where}" data-level="CUI">CUI/FLOOD</div>'
            assert banner in html, (page, where)
        assert 'data-page-marking="CUI/FLOOD"' in html, page  # ui.js never shows less
        if page in ("label", "review"):
            assert html.count('id="help-btn"') == 1 and html.count('id="pending"') == 1, page


def test_every_module_import_resolves() -> None:
    for js in (STATIC / "js").glob("*.js"):
        for target in IMPORT.findall(js.read_text(encoding="utf-8")):
            assert (js.parent / target).is_file(), f"{js.name} imports missing {target}"
