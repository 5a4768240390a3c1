// The image canvas: zoom (wheel, +/-), pan (space-drag, middle button), and drawing, moving,
// resizing of boxes, polygons and points. Geometry is kept in image pixels (top-left origin).

const HANDLE = 5; // half size of a resize handle, screen pixels
const CLOSE_DIST = 9; // clicking this near the first vertex closes a polygon
const MIN_DRAG = 3;

export class ImageView {
  constructor(container, editor) {
    this.editor = editor;
    this.canvas = document.createElement("canvas");
    this.canvas.className = "image-canvas";
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute("aria-label", "image; drag to draw, wheel to zoom");
    container.replaceChildren(this.canvas);
    this.ctx = this.canvas.getContext("2d");
    this.img = null;
    this.width = 0;
    this.height = 0;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.drag = null;
    this.draft = null; // polygon being drawn: [[x, y], ...]
    this.hover = null; // last mouse position in image pixels
    this.spaceDown = false;
    this.bind();
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /** Load the image at `url`; `width`/`height` (from the item) let us lay out before it arrives. */
  load(url, width, height) {
    // an image asked for earlier that arrives later is not drawn over this one
    const mine = (this.loads = (this.loads || 0) + 1);
    this.width = width || 0;
    this.height = height || 0;
    this.draft = null;
    this.img = null;
    this.fitted = false;
    delete this.canvas.dataset.ready;
    this.resize();
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => {
        if (mine !== this.loads) return resolve();
        this.img = img;
        this.width = img.naturalWidth;
        this.height = img.naturalHeight;
        this.fit();
        this.canvas.dataset.ready = "true";
        resolve();
      };
      img.onerror = () => (mine === this.loads ? reject(new Error("the image could not be loaded")) : resolve());
      img.src = url;
    });
  }

  resize() {
    if (!this.canvas.isConnected) return;
    const r = this.canvas.parentElement.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.max(1, Math.round(r.width * dpr));
    this.canvas.height = Math.max(1, Math.round(r.height * dpr));
    this.canvas.style.width = `${r.width}px`;
    this.canvas.style.height = `${r.height}px`;
    if (!this.fitted) this.fit();
    else this.render();
  }

  /** Zoom so the whole image is visible, centred. */
  fit() {
    const cw = this.canvas.clientWidth;
    const ch = this.canvas.clientHeight;
    if (!this.width || !this.height || !cw || !ch) return this.render();
    this.scale = Math.min(cw / this.width, ch / this.height) * 0.95;
    this.tx = (cw - this.width * this.scale) / 2;
    this.ty = (ch - this.height * this.scale) / 2;
    this.fitted = true;
    this.render();
  }

  zoom(factor, sx = this.canvas.clientWidth / 2, sy = this.canvas.clientHeight / 2) {
    const s = Math.min(40, Math.max(0.05, this.scale * factor));
    const [ix, iy] = this.toImage(sx, sy);
    this.scale = s;
    this.tx = sx - ix * s;
    this.ty = sy - iy * s;
    this.render();
  }

  toImage(sx, sy) {
    return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale];
  }

  toScreen(x, y) {
    return [x * this.scale + this.tx, y * this.scale + this.ty];
  }

  clamp([x, y]) {
    return [Math.min(Math.max(x, 0), this.width), Math.min(Math.max(y, 0), this.height)];
  }

  eventPoint(ev) {
    const r = this.canvas.getBoundingClientRect();
    return [ev.clientX - r.left, ev.clientY - r.top];
  }

  // --- drawing --------------------------------------------------------------------------------

  render() {
    const ctx = this.ctx;
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    // image-to-screen mapping, readable by tests and tools: "scale tx ty" in CSS pixels
    this.canvas.dataset.view = `${this.scale} ${this.tx} ${this.ty}`;
    if (this.img) {
      ctx.imageSmoothingEnabled = this.scale < 2;
      ctx.drawImage(this.img, this.tx, this.ty, this.width * this.scale, this.height * this.scale);
    } else if (this.width) {
      ctx.fillStyle = "#2a2d33";
      ctx.fillRect(this.tx, this.ty, this.width * this.scale, this.height * this.scale);
    }
    this.placed = []; // label tags drawn so far: later tags move aside instead of covering them
    for (const o of this.editor.overlays()) this.drawRegion(o.region, o.color, { faded: o.faded });
    const selected = this.editor.selectedId;
    for (const r of this.editor.imageRegions()) {
      this.drawRegion(r, this.editor.colorOf(r), { selected: r.id === selected, pre: r._pre });
    }
    this.drawDraft();
    // where the tags went ([x, y, w, h] in CSS pixels), readable by tests and tools
    this.canvas.dataset.tags = JSON.stringify(this.placed.map((b) => b.map(Math.round)));
  }

  drawRegion(r, color, { selected = false, pre = false, faded = false } = {}) {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalAlpha = faded ? 0.35 : 1;
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = selected ? 3 : 2;
    ctx.setLineDash(pre ? [7, 5] : []);
    if (r.kind === "box" && r.box) {
      const [x, y] = this.toScreen(r.box[0], r.box[1]);
      const w = r.box[2] * this.scale;
      const h = r.box[3] * this.scale;
      ctx.globalAlpha *= 0.14;
      ctx.fillRect(x, y, w, h);
      ctx.globalAlpha = faded ? 0.35 : 1;
      this.halo(() => ctx.strokeRect(x, y, w, h));
      ctx.strokeRect(x, y, w, h);
      this.tag(r, color, x, y - (selected ? HANDLE : 0));
      if (selected) for (const [, hx, hy] of this.boxHandles(r.box)) this.handle(hx, hy, color);
    } else if (r.kind === "polygon" && r.points && r.points.length) {
      ctx.beginPath();
      r.points.forEach(([px, py], i) => {
        const [x, y] = this.toScreen(px, py);
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      ctx.closePath();
      ctx.globalAlpha *= 0.14;
      ctx.fill();
      ctx.globalAlpha = faded ? 0.35 : 1;
      this.halo(() => ctx.stroke());
      ctx.stroke();
      const [x0, y0] = this.toScreen(...r.points[0]);
      this.tag(r, color, x0, y0);
      if (selected) for (const p of r.points) this.handle(...this.toScreen(...p), color);
    } else if (r.kind === "point" && r.points && r.points.length) {
      const [x, y] = this.toScreen(...r.points[0]);
      ctx.beginPath();
      ctx.arc(x, y, selected ? 7 : 5, 0, Math.PI * 2);
      ctx.globalAlpha *= 0.5;
      ctx.fill();
      ctx.globalAlpha = faded ? 0.35 : 1;
      ctx.stroke();
      this.tag(r, color, x + 6, y - 4);
    }
    ctx.restore();
  }

  /** A dark outline under a stroke keeps shapes visible on any background. */
  halo(stroke) {
    const ctx = this.ctx;
    ctx.save();
    ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
    ctx.lineWidth += 2;
    stroke();
    ctx.restore();
  }

  tag(r, color, x, y) {
    const text = r.label || "?";
    const ctx = this.ctx;
    ctx.save();
    ctx.setLineDash([]);
    ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
    const w = ctx.measureText(text).width + 8;
    let ty = y > 18 ? y - 18 : y;
    // several annotators' boxes often share a corner: stack their tags instead of overlapping
    const hits = (b) => x < b[0] + b[2] && b[0] < x + w && ty < b[1] + b[3] && b[1] < ty + 17;
    for (let guard = 0; guard < 50 && (this.placed || []).some(hits); guard += 1) ty += 18;
    if (this.placed) this.placed.push([x, ty, w, 17]);
    ctx.fillStyle = color;
    ctx.fillRect(x, ty, w, 17);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x + 4, ty + 13);
    ctx.restore();
  }

  handle(x, y, color) {
    const ctx = this.ctx;
    ctx.save();
    ctx.setLineDash([]);
    ctx.fillStyle = "#fff";
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.fillRect(x - HANDLE, y - HANDLE, HANDLE * 2, HANDLE * 2);
    ctx.strokeRect(x - HANDLE, y - HANDLE, HANDLE * 2, HANDLE * 2);
    ctx.restore();
  }

  drawDraft() {
    const ctx = this.ctx;
    const d = this.drag;
    const color = this.editor.colorOf({ control: this.editor.active.name, label: this.editor.activeLabel() });
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    if (d && d.type === "draw-box") {
      const [x0, y0] = this.toScreen(d.x0, d.y0);
      const [x1, y1] = this.toScreen(d.x1, d.y1);
      ctx.setLineDash([4, 3]);
      ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    }
    if (this.draft && this.draft.length) {
      ctx.beginPath();
      this.draft.forEach((p, i) => {
        const [x, y] = this.toScreen(...p);
        if (i) ctx.lineTo(x, y);
        else ctx.moveTo(x, y);
      });
      if (this.hover) ctx.lineTo(...this.toScreen(...this.hover));
      ctx.stroke();
      for (const p of this.draft) this.handle(...this.toScreen(...p), color);
    }
    ctx.restore();
  }

  boxHandles([x, y, w, h]) {
    const pts = {
      nw: [x, y], n: [x + w / 2, y], ne: [x + w, y], e: [x + w, y + h / 2],
      se: [x + w, y + h], s: [x + w / 2, y + h], sw: [x, y + h], w: [x, y + h / 2],
    };
    return Object.entries(pts).map(([name, [px, py]]) => [name, ...this.toScreen(px, py)]);
  }

  // --- hit testing ----------------------------------------------------------------------------

  hitHandle(sx, sy) {
    const r = this.editor.selected();
    if (!r || this.editor.readonly) return null;
    const near = (hx, hy) => Math.abs(hx - sx) <= HANDLE + 2 && Math.abs(hy - sy) <= HANDLE + 2;
    if (r.kind === "box" && r.box) {
      for (const [name, hx, hy] of this.boxHandles(r.box)) if (near(hx, hy)) return { r, handle: name };
    } else if (r.kind === "polygon" && r.points) {
      for (let i = 0; i < r.points.length; i++) {
        if (near(...this.toScreen(...r.points[i]))) return { r, vertex: i };
      }
    }
    return null;
  }

  hitRegion(sx, sy) {
    const [x, y] = this.toImage(sx, sy);
    const tol = 6 / this.scale;
    const regions = this.editor.imageRegions();
    for (let i = regions.length - 1; i >= 0; i--) {
      const r = regions[i];
      if (r.kind === "box" && r.box) {
        const [bx, by, bw, bh] = r.box;
        if (x >= bx - tol && x <= bx + bw + tol && y >= by - tol && y <= by + bh + tol) return r;
      } else if (r.kind === "polygon" && r.points && inPolygon(x, y, r.points)) {
        return r;
      } else if (r.kind === "point" && r.points && r.points.length) {
        const [px, py] = r.points[0];
        if (Math.hypot(px - x, py - y) <= 8 / this.scale) return r;
      }
    }
    return null;
  }

  // --- input ----------------------------------------------------------------------------------

  bind() {
    const c = this.canvas;
    c.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const [sx, sy] = this.eventPoint(ev);
      this.zoom(Math.exp(-ev.deltaY * 0.0015), sx, sy);
    }, { passive: false });
    c.addEventListener("mousedown", (ev) => this.down(ev));
    window.addEventListener("mousemove", (ev) => this.move(ev));
    window.addEventListener("mouseup", (ev) => this.up(ev));
    c.addEventListener("dblclick", (ev) => {
      ev.preventDefault();
      if (this.draft) this.closePolygon(true);
    });
    c.addEventListener("contextmenu", (ev) => ev.preventDefault());
    c.addEventListener("auxclick", (ev) => ev.preventDefault());
  }

  down(ev) {
    const [sx, sy] = this.eventPoint(ev);
    this.canvas.focus({ preventScroll: true });
    if (ev.button === 1 || (ev.button === 0 && this.spaceDown)) {
      ev.preventDefault();
      this.drag = { type: "pan", sx, sy, tx: this.tx, ty: this.ty };
      this.canvas.classList.add("panning");
      return;
    }
    if (ev.button !== 0 || this.editor.readonly) return;
    const [ix, iy] = this.clamp(this.toImage(sx, sy));
    if (this.draft) return this.addDraftPoint(ix, iy, sx, sy);
    const h = this.hitHandle(sx, sy);
    if (h) {
      this.drag = { type: "resize", id: h.r.id, handle: h.handle, vertex: h.vertex, orig: structuredClone(h.r), x0: ix, y0: iy };
      return;
    }
    const hit = this.hitRegion(sx, sy);
    const tool = this.editor.tool();
    if (hit && !ev.altKey) {
      this.editor.select(hit.id);
      this.drag = { type: "move", id: hit.id, orig: structuredClone(hit), x0: ix, y0: iy, sx, sy };
      return;
    }
    this.editor.select(null);
    if (tool === "boxes") this.drag = { type: "draw-box", x0: ix, y0: iy, x1: ix, y1: iy, sx, sy };
    else if (tool === "polygons") this.addDraftPoint(ix, iy, sx, sy);
    else if (tool === "points") this.editor.addRegion({ kind: "point", points: [[round(ix), round(iy)]] });
  }

  move(ev) {
    if (!this.canvas.isConnected) return;
    const [sx, sy] = this.eventPoint(ev);
    const [ix, iy] = this.clamp(this.toImage(sx, sy));
    this.hover = [ix, iy];
    const d = this.drag;
    if (!d) {
      if (this.draft) this.render();
      this.cursor(sx, sy);
      return;
    }
    if (d.type === "pan") {
      this.tx = d.tx + sx - d.sx;
      this.ty = d.ty + sy - d.sy;
    } else if (d.type === "draw-box") {
      d.x1 = ix;
      d.y1 = iy;
    } else if (d.type === "move") {
      this.editor.patchRegion(d.id, moved(d.orig, ix - d.x0, iy - d.y0, this.width, this.height));
    } else if (d.type === "resize") {
      this.editor.patchRegion(d.id, resized(d, ix, iy));
    }
    this.render();
  }

  up(ev) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    this.canvas.classList.remove("panning");
    if (d.type === "draw-box") {
      const [sx, sy] = this.eventPoint(ev);
      if (Math.abs(sx - d.sx) >= MIN_DRAG && Math.abs(sy - d.sy) >= MIN_DRAG) {
        const x = Math.min(d.x0, d.x1);
        const y = Math.min(d.y0, d.y1);
        this.editor.addRegion({
          kind: "box",
          box: [round(x), round(y), round(Math.abs(d.x1 - d.x0)), round(Math.abs(d.y1 - d.y0))],
        });
      }
    } else if (d.type === "move" || d.type === "resize") {
      const r = this.editor.regionById(d.id);
      if (r && JSON.stringify(r) !== JSON.stringify(d.orig)) {
        this.editor.patchRegion(d.id, roundGeometry(r), { commit: true });
      }
    }
    this.render();
  }

  cursor(sx, sy) {
    let cur = this.spaceDown ? "grab" : "crosshair";
    const h = this.hitHandle(sx, sy);
    if (h) cur = h.handle ? `${h.handle}-resize` : "move";
    else if (this.hitRegion(sx, sy)) cur = "move";
    this.canvas.style.cursor = cur;
  }

  addDraftPoint(ix, iy, sx, sy) {
    if (!this.draft) this.draft = [];
    if (this.draft.length >= 3) {
      const [fx, fy] = this.toScreen(...this.draft[0]);
      if (Math.hypot(fx - sx, fy - sy) <= CLOSE_DIST) return this.closePolygon(false);
    }
    this.draft.push([round(ix), round(iy)]);
    this.render();
  }

  /** Finish the polygon being drawn; false when there is none or it has too few points. */
  closePolygon(fromDblClick) {
    if (!this.draft) return false;
    let pts = this.draft;
    if (fromDblClick) {
      // the two clicks of a double click each added a vertex at the same spot
      pts = pts.filter((p, i) => i === 0 || Math.hypot(p[0] - pts[i - 1][0], p[1] - pts[i - 1][1]) * this.scale > 2);
    }
    this.draft = null;
    if (pts.length >= 3) this.editor.addRegion({ kind: "polygon", points: pts });
    this.render();
    return pts.length >= 3;
  }

  cancelDraft() {
    if (!this.draft) return false;
    this.draft = null;
    this.render();
    return true;
  }
}

function round(v) {
  return Math.round(v * 10) / 10;
}

function roundGeometry(r) {
  const out = {};
  if (r.box) out.box = r.box.map(round);
  if (r.points) out.points = r.points.map(([x, y]) => [round(x), round(y)]);
  return out;
}

function moved(orig, dx, dy, W, H) {
  if (orig.box) {
    const [x, y, w, h] = orig.box;
    const nx = Math.min(Math.max(x + dx, 0), Math.max(0, W - w));
    const ny = Math.min(Math.max(y + dy, 0), Math.max(0, H - h));
    return { box: [nx, ny, w, h] };
  }
  if (orig.points) return { points: orig.points.map(([x, y]) => [Math.min(Math.max(x + dx, 0), W), Math.min(Math.max(y + dy, 0), H)]) };
  return {};
}

function resized(d, ix, iy) {
  if (d.vertex !== undefined) {
    const points = d.orig.points.map((p) => [...p]);
    points[d.vertex] = [ix, iy];
    return { points };
  }
  let [x0, y0, w, h] = d.orig.box;
  let x1 = x0 + w;
  let y1 = y0 + h;
  if (d.handle.includes("w")) x0 = ix;
  if (d.handle.includes("e")) x1 = ix;
  if (d.handle.includes("n")) y0 = iy;
  if (d.handle.includes("s")) y1 = iy;
  return { box: [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)] };
}

function inPolygon(x, y, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i];
    const [xj, yj] = pts[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
