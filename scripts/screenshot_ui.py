"""Screenshot the annotation page with a box drawn: docs/screenshots/label.png.

Builds a throw-away workspace (a synthetic aerial flood scene, an annotator, a project with a
model pre-label), serves it on 127.0.0.1, drives the system Chromium with Playwright, draws a
box after choosing its class with a number key, and saves the screenshot.

    PYTHONPATH=src .venv/bin/python scripts/screenshot_ui.py [--out docs/screenshots/label.png]
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SCHEMA = """
title: Flood damage survey
controls:
  - name: label
    type: boxes
    labels:
      - {name: building, color: "#e6194b"}
      - {name: vehicle, color: "#4363d8"}
      - {name: person, color: "#f58231"}
  - name: water
    type: polygons
    labels: [flood water]
  - name: damage
    type: choices
    labels: [none, minor, destroyed]
  - name: notes
    type: text
"""
INSTRUCTIONS = """Box every building, vehicle and person you can see.
Outline the flood water with a polygon.
Pick the worst damage visible in the scene."""


def flood_scene(path: Path, w: int = 960, h: int = 640) -> None:
    """A synthetic aerial view of a flooded village: fields, a road, roofs, muddy water."""
    rnd = random.Random(7)
    img = Image.new("RGB", (w, h), (104, 128, 74))
    d = ImageDraw.Draw(img)
    for _ in range(14):  # field patches
        x, y = rnd.randrange(0, w), rnd.randrange(0, h)
        g = rnd.randrange(100, 150)
        d.rectangle(
            [x, y, x + rnd.randrange(120, 300), y + rnd.randrange(80, 200)], fill=(g - 20, g, 70)
        )
    d.line([(0, 250), (w, 300)], fill=(92, 92, 88), width=18)  # the road
    d.line([(420, 0), (470, h)], fill=(92, 92, 88), width=12)
    water = [(0, 390), (180, 360), (360, 410), (560, 380), (760, 430), (w, 400), (w, h), (0, h)]
    d.polygon(water, fill=(128, 102, 66))
    for _ in range(24):  # trees
        x, y = rnd.randrange(0, w), rnd.randrange(0, 380)
        r = rnd.randrange(8, 16)
        d.ellipse([x - r, y - r, x + r, y + r], fill=(52, 86, 44))
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    d = ImageDraw.Draw(img)
    roofs = [
        (120, 150, 90, 60),
        (250, 170, 70, 55),
        (540, 160, 100, 70),
        (700, 190, 80, 60),
        (300, 420, 90, 65),
        (620, 450, 85, 60),
        (90, 470, 70, 50),
    ]
    for x, y, rw, rh in roofs:
        d.rectangle([x + 4, y + 4, x + rw + 4, y + rh + 4], fill=(60, 60, 55))  # shadow
        d.rectangle([x, y, x + rw, y + rh], fill=(168, 62, 48))
        d.line([(x, y + rh // 2), (x + rw, y + rh // 2)], fill=(130, 45, 36), width=3)
    d.rectangle([520, 276, 556, 292], fill=(230, 230, 235))  # a car on the road
    d.rectangle([600, 282, 632, 297], fill=(40, 70, 160))
    img.save(path, format="PNG")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/screenshots/label.png")
    out = Path(ap.parse_args().out)
    os.environ.setdefault("ASSAY_ARGON2_MEMORY_KIB", "1024")

    import uvicorn
    from playwright.sync_api import sync_playwright

    from assay.domain.labels import Region, payload_to_json
    from assay.domain.schema import LabelSchema
    from assay.labeling import add_user, create_project
    from assay.server import Settings, create_app
    from assay.store.schema import annotations_table
    from assay.timeutil import now_iso
    from assay.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="assay-shot-"))
    flood_scene(tmp / "riverside_0412.png")
    ws = Workspace.init(tmp / "ws")
    [item] = ws.ingest([tmp / "riverside_0412.png"], marking="CUI/FLOOD").new
    ws.create_dataset("flood")
    ws.add_items("flood")
    add_user(ws, "dana", "annotator", "CUI/FLOOD", "screenshot-pass")
    create_project(
        ws, "survey", LabelSchema.from_yaml_text(SCHEMA), "flood", instructions=INSTRUCTIONS
    )
    pre = [
        Region(kind="box", control="label", label="building", box=(540, 160, 100, 70), score=0.91)
    ]
    with ws.db.begin() as conn:
        conn.execute(
            annotations_table.insert().values(
                id="model-shot",
                item_id=item,
                project=None,
                author="model:flood-det@1",
                kind="model",
                payload=payload_to_json(pre),
                created=now_iso(),
            )
        )

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(Settings(), ws), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url + "/label/survey")
            page.fill("#username", "dana")
            page.fill("#password", "screenshot-pass")
            page.click("#login-submit")
            page.wait_for_selector("canvas.image-canvas[data-ready]")
            canvas = page.locator("canvas.image-canvas")
            scale, tx, ty = (float(v) for v in str(canvas.get_attribute("data-view")).split())
            box = canvas.bounding_box()
            assert box is not None

            def at(x: float, y: float) -> tuple[float, float]:
                return box["x"] + tx + x * scale, box["y"] + ty + y * scale

            for (x0, y0, x1, y1), key in [((120, 150, 210, 210), "1"), ((596, 278, 636, 300), "2")]:
                page.keyboard.press(key)  # the class of the box drawn next
                page.mouse.move(*at(x0 - 2, y0 - 2))
                page.mouse.down()
                page.mouse.move(*at(x1 + 2, y1 + 2), steps=6)
                page.mouse.up()
            page.keyboard.press("6")  # damage: minor
            page.wait_for_timeout(2800)  # let the pre-label toast fade
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ws.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
