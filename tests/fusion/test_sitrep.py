"""`assay sitrep`: sections, markings on every paragraph, MGRS references, counts and entities
linked to provenance, changes since the last report, clearance and area."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import mgrs

from assay.domain.entity import Entity, Provenance
from assay.fusion import pictures
from assay.workspace import Workspace
from proxy_trap import proxy_trap

RunCli = Callable[..., Any]


def _e(eid: str, label: str, lon: float, marking: str = "", **kw: Any) -> Entity:
    data: dict[str, Any] = dict(
        id=eid, label=label, lon=lon, lat=29.7604, first_seen="2026-07-25T17:20:00Z",
        last_seen="2026-07-25T17:30:00Z", confidence=0.8, status="confirmed", detections=4,
        sensors=("drone-1", "drone-2"), marking=marking,
        provenance=Provenance(models=("model:boxes@2",), commits=("c" * 64,),
                              sources=("predictions:dets.jsonl",), items=(f"item-{eid}",)),
    )  # fmt: skip
    data.update(kw)
    return Entity.model_validate(data)


def _world(ws: Workspace) -> None:
    pictures.save(
        ws,
        "town",
        [
            _e("ent-a", "vehicle", -95.3698),
            _e("ent-b", "person", -95.3650, "CUI/FLOOD", sensors=("drone-1",), detections=1),
            _e("ent-c", "boat", -95.3600, "SECRET/SAR"),
        ],
        message="first",
    )


def test_sitrep_json_is_marked_per_paragraph_and_filtered_by_clearance(
    ws: Workspace, run_cli: RunCli
) -> None:
    _world(ws)
    res = run_cli("-w", ws.root, "sitrep", "town", "--format", "json", "--clearance", "CUI/FLOOD")
    r = json.loads(res.stdout)
    assert r["marking"] == "CUI/FLOOD" and set(r["entities"]) == {"ent-a", "ent-b"}
    assert "SECRET" not in res.stdout and "ent-c" not in res.stdout
    titles = [s["title"] for s in r["sections"]]
    assert titles == [
        "Situation overview",
        "Entities by type and area (MGRS)",
        "Changes since the last report",
        "Confidence, corroboration and gaps",
        "Sources",
    ]
    paras = [p for s in r["sections"] for p in s["paragraphs"]]
    assert all(p["marking"] for p in paras)
    # A paragraph speaks only of the vehicle: it carries the vehicle's marking, not the report's.
    vehicle = next(p for p in paras if p["parts"][0] == "vehicle: ")
    assert vehicle["marking"] == "UNCLASSIFIED"
    # Every count names the entities it counts.
    counts = [x for p in paras for x in p["parts"] if isinstance(x, dict) and "count" in x]
    assert counts and all(isinstance(c["entities"], list) for c in counts)
    single = next(p for p in paras if str(p["parts"][0]).startswith("Seen by one sensor"))
    assert single["parts"][1] == {"count": 1, "entities": ["ent-b"]}
    assert single["marking"] == "CUI/FLOOD"
    # MGRS references that the mgrs package reads back to the entity's place.
    ref = r["entities"]["ent-a"]["mgrs"]
    lat, lon = mgrs.MGRS().toLatLon(ref)
    assert abs(lat - 29.7604) < 2e-4 and abs(lon + 95.3698) < 2e-4
    assert r["entities"]["ent-a"]["link"] == "/api/v1/pictures/town/entities/ent-a?rev=1"


def test_second_report_lists_changes_since_the_last_one(ws: Workspace, run_cli: RunCli) -> None:
    _world(ws)
    run_cli("-w", ws.root, "sitrep", "town", "--format", "md")
    now = pictures.entities(ws, pictures.load(ws, "town"))
    moved = [e.model_copy(update={"lon": e.lon + 0.002}) if e.id == "ent-a" else e for e in now]
    moved = [e for e in moved if e.id != "ent-b"] + [_e("ent-d", "person", -95.3655)]
    pictures.save(ws, "town", moved, message="second")
    md = run_cli("-w", ws.root, "sitrep", "town", "--format", "md").stdout
    lines = md.strip().splitlines()
    # The lost ent-b (CUI/FLOOD) is named in the changes: its compartment is in the banner.
    assert lines[0] == lines[-1] == "**SECRET/FLOOD/SAR**"
    assert "Compared with version 1 (the version of the last report)" in md
    assert re.search(r"appeared: \[1\]\(#list-appeared\) \[ent-d\]", md)
    assert re.search(r"moved: \[1\]\(#list-moved\) \[ent-a\]\([^)]*\) \(19\d m\)", md)
    assert re.search(r"lost: \[1\]\(#list-lost\) \[ent-b\]", md)
    # Every paragraph opens with its marking; every count links to its list.
    body = [ln for ln in lines if ln and not ln.startswith(("#", "|", "**", "<a"))]
    assert all(ln.startswith("(") for ln in body)
    for target in re.findall(r"\]\(#(list-[\w-]+)\)", md):
        assert f'<a id="{target}"></a>' in md
    # --since before any version: nothing to compare with.
    early = run_cli("-w", ws.root, "sitrep", "town", "--since", "2000-01-01T00:00:00Z").stdout
    assert "No earlier report or version" in early


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("href", "src") and v]


def test_sitrep_html_is_self_contained_with_banners_and_area(
    ws: Workspace, run_cli: RunCli, tmp_path: Any
) -> None:
    _world(ws)
    out = tmp_path / "town.html"
    run_cli(
        "-w", ws.root, "sitrep", "town", "--format", "html", "--out", out,
        "--area", "-95.372,29.75,-95.368,29.77",
    )  # fmt: skip
    page = out.read_text()
    assert page.count('<div class="banner">UNCLASSIFIED</div>') == 2
    links = _Links()
    links.feed(page)
    assert links.refs and all(r.startswith(("#", "/api/v1/pictures/town/")) for r in links.refs)
    assert "ent-b" not in page and "ent-c" not in page
    bad = run_cli("-w", ws.root, "sitrep", "town", "--area", "1,2,3", code=1)
    assert "W,S,E,N" in bad.stderr


def test_counts_of_one_read_as_one(ws: Workspace, run_cli: RunCli) -> None:
    # A first report at a low clearance often speaks of one entity: "holds 1 entities" read
    # as a typo to the people it goes to.
    _world(ws)
    md = run_cli("-w", ws.root, "sitrep", "town", "--clearance", "UNCLASSIFIED").stdout
    assert "holds [1](#list-all) entity: [1](#list-confirmed) confirmed" in md
    assert "vehicle: [1](#list-type-vehicle) entity." in md
    assert "Mean confidence 0.80 over [1](#list-all) entity." in md
    assert not re.search(r"\[1\]\([^)]*\) entities", md)
    many = run_cli("-w", ws.root, "sitrep", "town", "--clearance", "CUI/FLOOD").stdout
    assert "holds [2](#list-all) entities: " in many and "over [2](#list-all) entities." in many
    now = pictures.entities(ws, pictures.load(ws, "town"))
    moved = [e.model_copy(update={"lon": e.lon + 0.002}) if e.id == "ent-a" else e for e in now]
    pictures.save(ws, "town", moved, message="second")
    again = run_cli("-w", ws.root, "sitrep", "town", "--clearance", "UNCLASSIFIED").stdout
    assert "[1](#list-changes) change." in again


def test_sitrep_json_describes_the_report_written(
    ws: Workspace, run_cli: RunCli, tmp_path: Any
) -> None:
    """`sitrep` took no --json: a script learnt what it wrote (and its marking) only from a
    line on stderr. With --out, --json prints one document saying so; without --out the
    report itself is stdout's, so --json is bad usage naming the two ways."""
    _world(ws)
    out = tmp_path / "town.md"
    res = run_cli(
        "-w", ws.root, "sitrep", "town", "--out", out, "--clearance", "CUI/FLOOD", "--json"
    )
    doc = json.loads(res.stdout)
    assert res.stderr == ""
    assert doc["out"] == str(out) and doc["bytes"] == out.stat().st_size > 0
    assert (doc["picture"], doc["version"], doc["format"]) == ("town", 1, "md")
    assert (doc["marking"], doc["clearance"], doc["entities"]) == ("CUI/FLOOD", "CUI/FLOOD", 2)
    assert out.read_text().splitlines()[0] == "**CUI/FLOOD**"
    stored = json.loads(ws.blobs.get_bytes(doc["report"]))  # the facts kept in the workspace
    assert stored["version_id"] == doc["version_id"] and set(stored["entities"]) == {
        "ent-a",
        "ent-b",
    }
    bad = run_cli("-w", ws.root, "sitrep", "town", "--json", code=2)
    assert "--out" in bad.stderr and "--format json" in bad.stderr and bad.stdout == ""


def test_a_report_naming_a_lost_entity_is_marked_as_high_as_it(
    ws: Workspace, run_cli: RunCli
) -> None:
    """The SECRET boat left the picture: the next report still names it (lost, with its id
    and list), so its banner, its stored record and its summary facts are SECRET too, not
    the lower marking of what is left."""
    _world(ws)
    run_cli("-w", ws.root, "sitrep", "town", "--format", "md")
    now = pictures.entities(ws, pictures.load(ws, "town"))
    pictures.save(ws, "town", [e for e in now if e.id == "ent-a"], message="boat gone")
    res = run_cli("-w", ws.root, "sitrep", "town", "--format", "json")
    r = json.loads(res.stdout)
    lost = next(
        p
        for s in r["sections"]
        for p in s["paragraphs"]
        if p["parts"] and p["parts"][0] == "lost: "
    )
    assert "ent-c" in json.dumps(lost) and lost["marking"] == "SECRET/FLOOD/SAR"
    assert r["marking"] == "SECRET/FLOOD/SAR"
    changes = next(s for s in r["sections"] if s["title"].startswith("Changes"))
    assert changes["paragraphs"][0]["marking"] == "SECRET/FLOOD/SAR"
    md = run_cli("-w", ws.root, "sitrep", "town", "--format", "md").stdout.strip().splitlines()
    assert md[0] == md[-1] == "**SECRET/FLOOD/SAR**"


def test_labels_and_ids_write_no_markup_into_a_report(
    ws: Workspace, run_cli: RunCli, tmp_path: Any
) -> None:
    """A label comes from a predictions file or a schema: in a report opened in a browser or
    a Markdown viewer it is text, never a tag, a link or a table cell break."""
    evil = '<img src=x onerror="alert(1)">[click](javascript:alert(2))|'
    pictures.save(ws, "town", [_e("ent-x", evil, -95.3698)], message="first")
    md = run_cli("-w", ws.root, "sitrep", "town", "--format", "md").stdout
    assert not re.search(r"(?<!\\)<img|(?<!\\)\]\(javascript", md)
    assert '\\<img src=x onerror="alert(1)"\\>\\[click\\](javascript:alert(2))\\|' in md
    # Anchors of counts named after the label hold no markup either, and still match.
    anchors = re.findall(r'<a id="([^"]*)"></a>', md)
    assert anchors and all(re.fullmatch(r"list-[\w-]+", a) for a in anchors)
    for target in re.findall(r"\]\(#([^)]*)\)", md):
        assert target in anchors
    out = tmp_path / "r.html"
    run_cli("-w", ws.root, "sitrep", "town", "--format", "html", "--out", out)
    page = out.read_text()
    assert "<img" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page


def test_the_summary_model_is_asked_directly_never_through_a_proxy(
    ws: Workspace, monkeypatch: Any
) -> None:
    """A proxy named in the environment (HTTP_PROXY, common on a machine that once had a
    network) would get the report's facts, whatever marking they carry: the model the user
    named is asked directly, and the proxy hears nothing."""
    import http.server
    import threading

    from assay.fusion import sitrep
    from assay.fusion.sitrep_summary import summarise

    class Model(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = json.dumps({"model": "m", "choices": [{"message": {"content": "Calm."}}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            return None

    model = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Model)
    threading.Thread(target=model.serve_forever, daemon=True).start()
    _world(ws)
    report = sitrep.build(ws, "town")
    try:
        with proxy_trap(monkeypatch) as heard:
            url = f"http://127.0.0.1:{model.server_address[1]}/v1#m"
            out = summarise(report, url, timeout=5)
    finally:
        model.shutdown()
    assert heard == [] and out["text"] == "Calm."
