from __future__ import annotations

import copy
import json
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from fmt_helpers import (
    FIXTURES,
    LABELS,
    bundle,
    image_row,
    points,
    polygons,
    save_images,
    scenes,
    sizes,
    text_row,
)
from fmt_helpers import boxes as box_regions
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.domain.labels import Region
from assay.errors import InvalidInput
from assay.formats import ImportBundle, labelstudio

IMAGE_JSON = FIXTURES / "image_project.json"
TEXT_JSON = FIXTURES / "text_project.json"


def test_reads_image_project_with_authors_choices_and_metadata(tmp_path: Path) -> None:
    b = labelstudio.read(IMAGE_JSON, images=scenes(tmp_path))
    assert [m.name for m in b.media] == [f"scenes/scene_{i:03d}.png" for i in range(6)]
    first = b.media[0]
    assert first.path == (tmp_path / "scenes/scene_000.png").resolve()
    assert (first.width, first.height) == (640, 480)
    assert first.metadata == {"sensor": "uav-1"}
    assert [a.source_id for a in first.annotations] == ["2001", "2002"]
    ann = first.annotations[0]
    assert (ann.author, ann.kind, ann.created) == ("user:1", "human", "2026-11-28T22:53:08.610605Z")
    assert ann.lead_time == pytest.approx(18.961142745035204)
    box, _, choice = ann.regions
    assert box.control == "label" and box.label == "vehicle" and box.id == "r11000100"
    assert box.box == pytest.approx((45.612 * 6.4, 55.211 * 4.8, 6.877 * 6.4, 5.567 * 4.8))
    assert (choice.kind, choice.control, choice.label) == ("choice", "damage", "none")
    assert b.media[5].annotations == []  # task 6 has no annotations
    assert {"building", "vehicle", "person", "none", "destroyed"} <= set(b.label_names)


def _conll_entities() -> list[str]:
    entities, current = [], []
    for line in (FIXTURES / "text_project.conll").read_text().splitlines():
        parts = line.split()
        tag = parts[-1] if parts else "O"
        if current and not tag.startswith("I-"):
            entities.append(" ".join(current))
            current = []
        if tag.startswith(("B-", "I-")):
            current.append(parts[0])
    return entities


def test_reads_text_project_spans_that_match_label_studio_conll(tmp_path: Path) -> None:
    b = labelstudio.read(TEXT_JSON)
    assert len(b.media) == 4
    m = b.media[0]
    assert m.path is None and m.text is not None and m.text.startswith("Flooding reported")
    spans = [
        (m.text[r.span[0] : r.span[1]], r.label)
        for m in b.media
        for a in m.annotations
        for r in a.regions
        if r.kind == "span" and m.text is not None and r.span is not None
    ]
    assert ("Main Street", "LOC") in spans and ("Red Cross", "ORG") in spans
    assert sorted(s for s, _ in spans) == sorted(_conll_entities())
    urgency = [r.label for a in m.annotations for r in a.regions if r.control == "urgency"]
    assert urgency == ["low"]


def _task(tmp_path: Path) -> dict[str, Any]:
    save_images(tmp_path, ["scene_000.png"])
    task = copy.deepcopy(json.loads(IMAGE_JSON.read_text())[0])
    task["data"]["image"] = "/data/local-files/?d=scene_000.png"
    return task


def _read_task(tmp_path: Path, task: dict[str, Any]) -> ImportBundle:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]))
    return labelstudio.read(path)


def test_predictions_become_model_annotations_and_emails_become_authors(tmp_path: Path) -> None:
    task = _task(tmp_path)
    task["annotations"][0]["completed_by"] = {"id": 3, "email": "ana@example.org"}
    task["annotations"][1]["was_cancelled"] = True
    pred = {
        "model_version": "flood-det@2",
        "score": 0.8,
        "result": task["annotations"][0]["result"],
    }
    task["predictions"] = [pred]
    anns = _read_task(tmp_path, task).media[0].annotations
    assert [(a.author, a.kind) for a in anns] == [
        ("user:ana@example.org", "human"),
        ("model:flood-det@2", "model"),
    ]
    assert {r.score for r in anns[1].regions} == {0.8}


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("/data/upload/3/1a2b3c4d-scene_000.png", "scene_000.png"),
        ("http://cameras.example/feeds/scene_000.png?token=1", "scene_000.png"),
        ("/data/local-files/?d=drone%2Fscene_000.png", "drone/scene_000.png"),
        ("/data/local-files/?d=elsewhere/scene_000.png", "scene_000.png"),
    ],
)
def test_media_url_rule(tmp_path: Path, url: str, stored: str) -> None:
    save_images(tmp_path / "imgs", [stored])
    task = _task(tmp_path)
    task["data"]["image"] = url
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]))
    m = labelstudio.read(path, images=tmp_path / "imgs").media[0]
    assert m.path == (tmp_path / "imgs" / stored).resolve()


def test_path_traversal_in_url_is_not_followed(tmp_path: Path) -> None:
    save_images(tmp_path, ["secret.png"])
    task = _task(tmp_path)
    task["data"]["image"] = "/data/local-files/?d=../secret.png"
    (tmp_path / "imgs").mkdir()
    path = tmp_path / "export.json"
    path.write_text(json.dumps([task]))
    with pytest.raises(InvalidInput, match="not found"):
        labelstudio.read(path, images=tmp_path / "imgs")


def _res(task: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = task["annotations"][0]["result"][0]
    return res


BAD = [
    (lambda t: t.pop("data"), "export.json: [0]: missing key 'data'"),
    (lambda t: t.update(annotations={}), "[0].annotations: expected a list, got an object"),
    (lambda t: _res(t)["value"].pop("x"), "[0].annotations[0].result[0].value: missing key 'x'"),
    (
        lambda t: _res(t)["value"].update(width="7"),
        "[0].annotations[0].result[0].value.width: expected a number, got a string",
    ),
    (
        lambda t: _res(t)["value"].update(x=99.0),
        "[0].annotations[0].result[0].value: box [x=633.6",
    ),
    (
        lambda t: t["data"].update(image="/data/local-files/?d=nope.png"),
        "[0].data.image: image '/data/local-files/?d=nope.png' not found",
    ),
    (
        lambda t: t["annotations"][0].update(completed_by=[1]),
        "[0].annotations[0].completed_by: expected a user id or email, got a list",
    ),
    (lambda t: t["data"].pop("image"), "[0].data: no image URL and no 'text' field"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD)
def test_bad_task_names_file_and_place(tmp_path: Path, mutate: Any, message: str) -> None:
    task = _task(tmp_path)
    mutate(task)
    with pytest.raises(InvalidInput) as err:
        _read_task(tmp_path, task)
    assert message in str(err.value)


def test_span_outside_the_text_is_rejected(tmp_path: Path) -> None:
    task = copy.deepcopy(json.loads(TEXT_JSON.read_text())[0])
    task["annotations"][0]["result"][0]["value"]["end"] = 500
    with pytest.raises(InvalidInput, match=r"result\[0\].value: span \[21, 500\) does not fit"):
        _read_task(tmp_path, task)


def test_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text("[{]")
    with pytest.raises(InvalidInput, match=r"export.json line 1 column 3: invalid JSON"):
        labelstudio.read(path)
    path.write_bytes(b'[{"data": {"text": "caf\xe9"}}]')
    with pytest.raises(InvalidInput, match=r"export.json line 1: not UTF-8"):
        labelstudio.read(path)
    # JSON_MIN cannot tell labels from data fields without the project's config beside it.
    min_copy = tmp_path / "min" / "export.json"
    min_copy.parent.mkdir()
    min_copy.write_text((FIXTURES / "image_project_min.json").read_text())
    with pytest.raises(InvalidInput, match=r"JSON_MIN export.*label_config.xml"):
        labelstudio.read(min_copy)


def test_unsupported_results_cancelled_annotations_and_drafts_are_counted(
    tmp_path: Path,
) -> None:
    task = _task(tmp_path)
    _res(task).update(type="brushlabels")
    task["annotations"][1]["was_cancelled"] = True
    task["drafts"] = [{"id": 5, "result": []}]
    b = _read_task(tmp_path, task)
    assert b.dropped.to_dict() == {
        "brushlabels results": 1,
        "cancelled annotations": 1,
        "drafts": 1,
    }


def test_prediction_ids_of_the_quick_json_export_are_accepted(tmp_path: Path) -> None:
    task = _task(tmp_path)
    task["predictions"] = [17, 18]  # what Label Studio's JSON export writes for predictions
    b = _read_task(tmp_path, task)
    assert b.dropped.to_dict() == {"predictions given by id only": 2}
    assert len(b.media[0].annotations) == 2


def test_json_min_fixture_reads_with_the_project_config(tmp_path: Path) -> None:
    scenes(tmp_path)
    (tmp_path / "export.json").write_text((FIXTURES / "image_project_min.json").read_text())
    (tmp_path / "label_config.xml").write_text(
        "<View><Image name='image' value='$image'/>"
        "<RectangleLabels name='label' toName='image'><Label value='vehicle'/>"
        "<Label value='person'/></RectangleLabels>"
        "<Choices name='damage' toName='image'><Choice value='none'/></Choices></View>"
    )
    mini = labelstudio.read(tmp_path / "export.json")
    full = labelstudio.read(FIXTURES / "image_project.json", images=tmp_path)

    # Same tasks, same annotations (ids, authors, lead times), same regions up to region ids.
    def key(b: ImportBundle) -> list[Any]:
        return sorted(
            (
                m.name,
                a.source_id,
                a.author,
                a.lead_time,
                sorted(
                    (r.kind, r.control, r.label, r.box and tuple(round(c, 6) for c in r.box))
                    for r in a.regions
                ),
            )
            for m in b.media
            for a in m.annotations
        )

    assert key(mini) == key(full)
    assert mini.media[0].metadata == {"sensor": "uav-1"}


def test_write_is_label_studio_task_json(tmp_path: Path) -> None:
    text = "Levee breach at Oak Ridge; evacuate now."
    rows = [
        image_row(
            "scene.png",
            [
                Region(id="b1", kind="box", label="vehicle", box=(64, 24, 32, 12), author="user:7"),
                Region(kind="choice", control="damage", label="minor", author="user:7"),
                Region(kind="box", label="person", box=(0, 0, 8, 8), score=0.9, author="model:m@1"),
            ],
            size=(640, 480),
            metadata={"sensor": "uav-1"},
            marking="CUI",
        ),
        text_row(
            "r1.txt",
            text,
            [Region(kind="span", control="ner", label="LOC", span=(16, 24), author="user:ana")],
            marking="SECRET",
        ),
    ]
    written = labelstudio.write(bundle(rows, marking="SECRET"), tmp_path)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    img, txt = tasks
    assert img["data"] == {
        "sensor": "uav-1",
        "image": "/data/local-files/?d=images/scene.png",
        "marking": "CUI",
    }
    ann = img["annotations"][0]
    assert ann["completed_by"] == 7
    box = ann["result"][0]
    assert box["type"] == "rectanglelabels" and box["from_name"] == "label"
    assert box["to_name"] == "image"
    assert (box["original_width"], box["original_height"]) == (640, 480)
    assert box["value"] == {
        "x": 10.0,
        "y": 5.0,
        "width": 5.0,
        "height": 2.5,
        "rotation": 0,
        "rectanglelabels": ["vehicle"],
    }
    assert ann["result"][1]["value"] == {"choices": ["minor"]}
    assert img["predictions"][0]["model_version"] == "m@1"
    assert img["predictions"][0]["result"][0]["score"] == 0.9
    span = txt["annotations"][0]["result"][0]
    assert span["type"] == "labels" and span["to_name"] == "text"
    assert span["value"] == {"start": 16, "end": 24, "labels": ["LOC"], "text": "Oak Ridge"[:8]}
    assert "completed_by" not in txt["annotations"][0]
    assert txt["annotations"][0]["assay_author"] == "user:ana"
    assert txt["data"]["text"] == text and txt["data"]["marking"] == "SECRET"
    assert (tmp_path / "images/scene.png").is_file() and tmp_path / "MARKING.txt" in written
    config = ET.fromstring((tmp_path / "label_config.xml").read_text())
    tags = {(el.tag, el.get("name")) for el in config}
    assert {("Image", "image"), ("Text", "text"), ("RectangleLabels", "label")} <= tags
    assert {("Choices", "damage"), ("Labels", "ner")} <= tags


WORDS = ["flood", "water", "rising", "near", "the", "bridge", "school", "road", "closed"]


@st.composite
def ls_rows(draw: st.DrawFn) -> list[Any]:
    authors = st.sampled_from(["user:1", "user:ana", "model:det@3", "aggregate:mv"])
    rows = []
    for i in range(draw(st.integers(1, 3))):
        w, h = draw(sizes)
        geo = st.one_of(box_regions(w, h), polygons(w, h), points(w, h))
        regions = draw(st.lists(geo, max_size=4))
        regions += [
            Region(kind="choice", control="damage", label=c)
            for c in draw(st.lists(st.sampled_from(["none", "minor"]), max_size=2, unique=True))
        ]
        author = draw(authors)
        regions = [r.model_copy(update={"author": author}) for r in regions]
        rows.append(image_row(f"img_{i}.png", regions, (w, h)))
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8)))
    spans = []
    for _ in range(draw(st.integers(0, 3))):
        s = draw(st.integers(0, len(text)))
        e = draw(st.integers(s, len(text)))
        spans.append(
            Region(
                kind="span",
                control="ner",
                label=draw(st.sampled_from(LABELS)),
                span=(s, e),
                author=draw(authors),
            )
        )
    rows.append(text_row("report.txt", text, spans))
    return rows


def _norm(r: Region) -> tuple[Any, ...]:
    geo = r.box or r.points or r.span
    flat = tuple(
        round(c, 6) for c in (geo if r.box or r.span else [c for p in geo or () for c in p])
    )
    return (r.kind, r.control, r.label, flat, r.author)


@settings(max_examples=20, deadline=None)
@given(ls_rows())
def test_round_trip_keeps_everything(rows: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        labelstudio.write(bundle(rows), Path(tmp))
        back = labelstudio.read(Path(tmp))
    got = {
        m.name: sorted(
            _norm(r.model_copy(update={"author": a.author}))
            for a in m.annotations
            for r in a.regions
        )
        for m in back.media
    }
    for row in rows:
        assert got[row.name] == sorted(_norm(r) for r in row.regions)
    text_media = back.media[-1]
    assert text_media.text == rows[-1].read_bytes().decode()
    assert text_media.marking == "CUI"


def test_real_export_survives_assay_export_and_reimport(tmp_path: Path) -> None:
    first = labelstudio.read(IMAGE_JSON, images=scenes(tmp_path / "in"))
    rows = [
        image_row(
            Path(m.name).name,
            [r.model_copy(update={"author": a.author}) for a in m.annotations for r in a.regions],
            size=(640, 480),
            metadata=m.metadata,
        )
        for m in first.media
    ]
    labelstudio.write(bundle(rows), tmp_path / "out")
    again = labelstudio.read(tmp_path / "out")
    for m, m2 in zip(first.media, again.media, strict=True):
        assert m2.metadata == m.metadata
        want = sorted(
            _norm(r.model_copy(update={"author": a.author}))
            for a in m.annotations
            for r in a.regions
        )
        got = sorted(
            _norm(r.model_copy(update={"author": a.author}))
            for a in m2.annotations
            for r in a.regions
        )
        assert got == want


def test_text_task_with_a_url_field_keeps_it_as_metadata(tmp_path: Path) -> None:
    task = {"data": {"text": "Road closed.", "url": "https://news.example/a.png"}}
    m = _read_task(tmp_path, task).media[0]
    assert m.text == "Road closed." and m.metadata == {"url": "https://news.example/a.png"}


def test_polygon_keypoint_textarea_and_rating_results(tmp_path: Path) -> None:
    task = _task(tmp_path)
    base = {"to_name": "image", "original_width": 640, "original_height": 480}
    task["annotations"] = [
        {
            "completed_by": 2,
            "result": [
                {
                    **base,
                    "id": "p1",
                    "from_name": "outline",
                    "type": "polygonlabels",
                    "value": {
                        "points": [[10, 10], [50, 10], [50, 50]],
                        "polygonlabels": ["debris"],
                    },
                },
                {
                    **base,
                    "id": "k1",
                    "from_name": "kp",
                    "type": "keypointlabels",
                    "value": {"x": 25, "y": 50, "width": 0.5, "keypointlabels": ["person"]},
                },
                {
                    "id": "t1",
                    "from_name": "note",
                    "to_name": "image",
                    "type": "textarea",
                    "value": {"text": ["roof gone", "road blocked"]},
                },
                {
                    "id": "s1",
                    "from_name": "severity",
                    "to_name": "image",
                    "type": "rating",
                    "value": {"rating": 4},
                },
                {
                    **base,
                    "id": "r1",
                    "from_name": "label",
                    "type": "rectanglelabels",
                    "value": {
                        "x": 10,
                        "y": 10,
                        "width": 10,
                        "height": 10,
                        "rotation": 30,
                        "rectanglelabels": ["building"],
                    },
                },
            ],
        }
    ]
    poly, kp, t1, t2, rating, rect = _read_task(tmp_path, task).media[0].annotations[0].regions
    assert poly.kind == "polygon" and poly.points == ((64, 48), (320, 48), (320, 240))
    assert kp.kind == "point" and kp.points == ((160, 240),) and kp.label == "person"
    assert [t1.text, t2.text] == ["roof gone", "road blocked"] and t1.control == "note"
    assert rating.kind == "rating" and rating.value == 4
    assert rect.attributes == {"rotation": 30}


def test_boxes_and_polygons_get_unique_control_names_and_keep_labels(tmp_path: Path) -> None:
    rows = [
        image_row(
            "a.png",
            [
                Region(kind="box", label="vehicle", box=(4, 4, 10, 10), author="user:ana"),
                Region(
                    kind="polygon",
                    label="debris",
                    points=((1, 1), (20, 2), (9, 30)),
                    author="user:ana",
                ),
                Region(kind="choice", control="label", label="flooded", author="user:ana"),
            ],
        )
    ]
    labelstudio.write(bundle(rows), tmp_path)
    config = ET.fromstring((tmp_path / "label_config.xml").read_text())
    names = [el.get("name") for el in config.iter() if el.get("name")]
    assert len(names) == len(set(names))  # Label Studio: "non-unique names" otherwise
    tags = {el.get("name"): el.tag for el in config.iter() if el.get("toName")}
    labels = {
        el.get("name"): [c.get("value") for c in el] for el in config.iter() if el.get("toName")
    }
    task = json.loads((tmp_path / "tasks.json").read_text())[0]
    for res in task["annotations"][0]["result"]:
        # Every result names a control of its own type, which lists the result's label.
        assert tags[res["from_name"]].lower() == res["type"]
        value = res["value"][res["type"]]
        assert value and set(value) <= set(labels[res["from_name"]])
    poly = next(r for r in task["annotations"][0]["result"] if r["type"] == "polygonlabels")
    assert poly["value"]["polygonlabels"] == ["debris"]
    back = labelstudio.read(tmp_path)
    got = sorted((r.kind, r.control, r.label) for r in back.media[0].annotations[0].regions)
    assert got == [
        ("box", "label", "vehicle"),
        ("choice", "label", "flooded"),
        ("polygon", "label", "debris"),
    ]


def test_round_trip_keeps_every_annotation_lead_time_and_author(ws: Any, tmp_path: Path) -> None:
    """Label Studio -> assay -> Label Studio: not only the latest annotation per task."""
    scenes(tmp_path)
    fixture = json.loads(IMAGE_JSON.read_text())
    fixture[0]["annotations"][1]["completed_by"] = 2  # a second annotator
    src = tmp_path / "ls.json"
    src.write_text(json.dumps(fixture))
    ws.import_labels(src, "labelstudio", "ls", images=tmp_path)
    ws.export("ls", "labelstudio", tmp_path / "out", media=False, all_annotations=True)
    back = labelstudio.read(tmp_path / "out", images=tmp_path / "scenes")

    def annotations(b: ImportBundle) -> list[Any]:
        # (The fixture's scenes are the same bytes: one item carries all their annotations.)
        return sorted(
            (
                a.author,
                a.lead_time,
                sorted(
                    (r.kind, r.label, r.box and tuple(round(c, 6) for c in r.box))
                    for r in a.regions
                ),
            )
            for m in b.media
            for a in m.annotations
        )

    original = labelstudio.read(src, images=tmp_path)
    assert len(annotations(back)) == 10
    assert annotations(back) == annotations(original)
    authors = {a.author for m in back.media for a in m.annotations}
    assert authors == {"user:1", "user:2"}
