// The video view's small map: every frame's footprint faintly, the flight track through the
// frame centres, and the current frame's footprint and platform position (lon/lat, SVG).

const NS = "http://www.w3.org/2000/svg";
const W = 240;
const H = 180;
const PAD = 8;

function svg(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function ring(frame) {
  const fp = frame.footprint;
  return fp && fp.type === "Polygon" ? fp.coordinates[0] : null;
}

export class MiniMap {
  constructor(root, frames) {
    this.root = root;
    this.frames = frames;
    const pts = frames.flatMap((f) => ring(f) || (f.geo ? [[f.geo.lon, f.geo.lat]] : []));
    this.empty = pts.length === 0;
    if (this.empty) {
      root.append(svg("text", { x: 10, y: 90, class: "minimap-none" })).textContent = "no georeference";
      return;
    }
    const lons = pts.map((p) => p[0]);
    const lats = pts.map((p) => p[1]);
    const midLat = (Math.min(...lats) + Math.max(...lats)) / 2;
    this.k = Math.cos((midLat * Math.PI) / 180);
    this.x0 = Math.min(...lons);
    this.y1 = Math.max(...lats);
    const spanX = (Math.max(...lons) - this.x0) * this.k || 1e-6;
    const spanY = this.y1 - Math.min(...lats) || 1e-6;
    this.s = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
    for (const f of frames) {
      const r = ring(f);
      if (r) root.append(svg("polygon", { points: this.path(r), class: "fp-all" }));
    }
    const line = frames.filter((f) => f.geo).map((f) => [f.geo.lon, f.geo.lat]);
    if (line.length > 1) root.append(svg("polyline", { points: this.path(line), class: "flight" }));
    this.current = svg("polygon", { points: "", class: "fp-current" });
    this.platform = svg("circle", { r: 3, cx: -10, cy: -10, class: "platform" });
    root.append(this.current, this.platform);
  }

  xy([lon, lat]) {
    return [PAD + (lon - this.x0) * this.k * this.s, PAD + (this.y1 - lat) * this.s];
  }

  path(points) {
    return points.map((p) => this.xy(p).map((v) => v.toFixed(2)).join(",")).join(" ");
  }

  show(index) {
    if (this.empty) return;
    const f = this.frames[index];
    const r = ring(f);
    this.current.setAttribute("points", r ? this.path(r) : "");
    this.root.dataset.frame = String(index);
    const t = f.telemetry || {};
    if (t.sensor_latitude !== undefined && t.sensor_longitude !== undefined) {
      const [x, y] = this.xy([t.sensor_longitude, t.sensor_latitude]);
      this.platform.setAttribute("cx", x.toFixed(2));
      this.platform.setAttribute("cy", y.toFixed(2));
    }
  }
}
