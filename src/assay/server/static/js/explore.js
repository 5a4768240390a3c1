// The dataset explorer (/explore/{dataset}): a virtualised grid of thumbnails with label overlays,
// filters answered by the server, an item view with every annotation's provenance, and a visual
// diff of two revisions coloured by change kind. Only the cells in view exist in the DOM; pages
// of items are fetched as the grid scrolls.

import { api, currentUser } from "./api.js";
import { CHANGE_COLORS, figure } from "./overlay.js";
import { $, el, highestMarking, setMarking, showUser, toast } from "./ui.js";

const dataset = $("#title").dataset.dataset;
const CELL_W = 184;
const CELL_H = 168;
const PAGE = 120;

let state = { params: new URLSearchParams(), total: 0, pages: new Map(), pending: new Map(), cols: 1, gen: 0 };
let facetsShown = false;
let firstScreen = null;
// the markings of the grid's revision and of the two revisions the open diff compares: the diff
// lists items of both, which may be above the grid's revision (added since, removed since)
let gridMarking = null;
let diffMarking = null;
// Each view that asks the server counts its requests: an answer is shown only while it is the
// newest one asked for (a slower, older answer landing later would show what is no longer asked).
const asked = { draw: 0, item: 0, diff: 0 };

function api_(path) {
  return api("GET", `/explore/${encodeURIComponent(dataset)}${path}`);
}

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($("#filters"))) if (String(v).trim() !== "") params.set(k, String(v).trim());
  if (!params.get("run")) {
    params.delete("iou");
    params.delete("outcome");
  }
  return params;
}

function fillSelect(select, pairs) {
  const keep = [...select.options].slice(0, 1);
  const v = select.value;
  select.replaceChildren(...keep, ...pairs.map(([value, text]) => el("option", { value, text })));
  select.value = v;
}

async function fetchPage(n, gen) {
  if (state.pages.has(n) || state.pending.has(n)) return state.pending.get(n);
  const params = new URLSearchParams(state.params);
  params.set("offset", String(n * PAGE));
  params.set("limit", String(PAGE));
  const p = api_(`?${params}`).then(
    (r) => {
      if (gen !== state.gen) return r;
      state.pages.set(n, r.items);
      state.pending.delete(n);
      state.total = r.total;
      return r;
    },
    (err) => {
      if (gen === state.gen) state.pending.delete(n); // the next draw asks again
      throw err;
    },
  );
  state.pending.set(n, p);
  return p;
}

function itemAt(i) {
  const page = state.pages.get(Math.floor(i / PAGE));
  return page ? page[i % PAGE] : undefined;
}

function cell(item, i) {
  const col = i % state.cols;
  const row = Math.floor(i / state.cols);
  const box = el(
    "button.cell",
    { type: "button", dataset: { item: item.item_id, index: i }, title: item.name, onclick: () => openItem(item.item_id) },
    item.thumb_url
      ? figure(item.thumb_url, item.width, item.height, item.regions, { alt: item.name, class: "thumb" })
      : el("div.figure.thumb.textcell", { text: item.name }),
    el("span.cell-name", { text: item.name }),
  );
  box.style.transform = `translate(${col * CELL_W}px, ${row * CELL_H}px)`;
  return box;
}

async function draw() {
  const scroller = $("#grid-scroll");
  const space = $("#grid-space");
  state.cols = Math.max(1, Math.floor(scroller.clientWidth / CELL_W));
  const rows = Math.ceil(state.total / state.cols);
  space.style.height = `${rows * CELL_H}px`;
  const firstRow = Math.max(0, Math.floor(scroller.scrollTop / CELL_H) - 1);
  const lastRow = Math.min(rows, Math.ceil((scroller.scrollTop + scroller.clientHeight) / CELL_H) + 1);
  const from = firstRow * state.cols;
  const to = Math.min(state.total, lastRow * state.cols);
  const gen = state.gen;
  const mine = ++asked.draw;
  const need = new Set();
  for (let i = from; i < to; i += 1) need.add(Math.floor(i / PAGE));
  const missing = [...need].filter((n) => !state.pages.has(n));
  if (missing.length) {
    await Promise.all(missing.map((n) => fetchPage(n, gen)));
    // another filter, or a draw for where the grid has scrolled since, is on screen by now
    if (gen !== state.gen || mine !== asked.draw) return;
  }
  const cells = [];
  for (let i = from; i < to; i += 1) {
    const it = itemAt(i);
    if (it) cells.push(cell(it, i));
  }
  space.replaceChildren(...cells);
  return cells;
}

function waitForImages(cells) {
  const imgs = cells.flatMap((c) => [...c.querySelectorAll("img")]);
  return Promise.all(imgs.map((img) => (img.complete ? null : new Promise((res) => { img.addEventListener("load", res, { once: true }); img.addEventListener("error", res, { once: true }); }))));
}

async function run() {
  state = { params: query(), total: 0, pages: new Map(), pending: new Map(), cols: 1, gen: state.gen + 1 };
  history.replaceState(null, "", `${location.pathname}?${state.params}`);
  const started = performance.now();
  $("#status").textContent = "Loading…";
  $("#grid-scroll").scrollTop = 0;
  const gen = state.gen;
  let first;
  try {
    first = await fetchPage(0, gen);
  } catch (err) {
    if (gen !== state.gen) return;
    $("#status").textContent = `Could not load items: ${err.message}`;
    $("#grid-space").replaceChildren();
    return;
  }
  if (gen !== state.gen) return; // filters applied since: their answer is the one to show
  const answered = performance.now() - started;
  gridMarking = first.marking;
  markPage();
  state.total = first.total;
  if (!facetsShown) {
    fillSelect($("#f-label"), first.facets.classes.map((c) => [c, c]));
    fillSelect($("#f-annotator"), first.facets.annotators.map((a) => [a, a]));
    fillSelect($("#f-marking"), first.facets.markings.map((m) => [m, m]));
    fillSelect($("#f-field"), first.facets.fields.map((f) => [f, f]));
    facetsShown = true;
    for (const [k, v] of new URLSearchParams(location.search)) {
      const field = $("#filters").elements.namedItem(k);
      if (field && field.type === "checkbox") field.checked = v === "true";
      else if (field) field.value = v;
    }
  }
  // (a draw for where the grid scrolled meanwhile may have put up the cells instead)
  const cells = (await draw()) || [...$("#grid-space").children];
  if (gen !== state.gen) return;
  await waitForImages(cells);
  if (gen !== state.gen) return;
  const shown = performance.now() - started;
  if (firstScreen === null) firstScreen = shown;
  document.body.dataset.firstScreenMs = shown.toFixed(0);
  const note = first.suspects_note ? ` · ${first.suspects_note}` : "";
  $("#status").textContent = `${first.total} item(s) in ${first.revision} · page answered in ${answered.toFixed(0)} ms, first screen in ${shown.toFixed(0)} ms${note}`;
}

function regionText(r) {
  const geo = r.box ? r.box.map((v) => Math.round(v)).join(",") : r.points ? `${r.points.length} pt` : r.span ? r.span.join("–") : r.text ?? r.value ?? "";
  return `${r.kind} ${r.label ?? ""} ${geo}`.trim();
}

async function openItem(id) {
  const box = $("#item-view");
  box.hidden = false;
  box.replaceChildren(el("p.muted", { text: "Loading…" }));
  const mine = ++asked.item;
  let d;
  try {
    d = await api_(`/items/${id}?rev=${encodeURIComponent(state.params.get("rev") || "")}`);
  } catch (err) {
    if (mine === asked.item) box.replaceChildren(el("p.error", { text: err.message }));
    return;
  }
  if (mine !== asked.item) return; // another item was opened since
  const image = d.item.media_type.startsWith("image/");
  const stage = el("div.task-stage");
  const show = (regions, dashed = false) =>
    stage.replaceChildren(
      image ? figure(d.media_url, d.item.width, d.item.height, regions, { alt: d.item.name, class: "big", dashed: () => dashed }) : el("pre.task-text", { text: d.item.text || "" }),
    );
  show(d.labels);
  box.replaceChildren(
    el("div.task-head", {}, el("h2", { text: d.item.name }), el("button.link", { type: "button", text: "Close", onclick: () => (box.hidden = true) })),
    el("p.small.muted", { text: `${d.revision} · ${d.item.marking} · ${d.item.width || "?"}×${d.item.height || "?"}` }),
    stage,
    el("h3", {}, el("button.link", { type: "button", text: "Labels of record", onclick: () => show(d.labels) })),
    el("p.small", { text: d.labels.map(regionText).join("; ") || "(none)" }),
    el("p.small.muted", { text: `from ${d.label_sources.authors.join(", ") || "—"} · annotations ${d.label_sources.annotation_ids.map((a) => a.slice(0, 8)).join(", ") || "—"}` }),
    el("h3", { text: `Every annotation (${d.annotations.length})` }),
    el(
      "ol.provenance",
      { id: "item-annotations" },
      d.annotations.map((a) =>
        el(
          "li",
          { dataset: { kind: a.kind, record: a.of_record ? "yes" : "no" }, tabindex: 0, onclick: () => show(a.regions, a.kind === "model") },
          el("strong", { text: a.author }),
          ` ${a.kind}${a.project ? ` · ${a.project}` : ""} · ${a.created}`,
          a.of_record ? el("span.badge", { text: "of record" }) : null,
          a.supersedes ? el("span.muted.small", { text: ` · supersedes ${a.supersedes.slice(0, 8)}` }) : null,
          el("div.small", { text: a.regions.map(regionText).join("; ") || "(nothing drawn)" }),
        ),
      ),
    ),
  );
}

// --- diff ---------------------------------------------------------------------------------

/** The banners: the grid's revision, and the diff's revisions while the diff is open. */
function markPage() {
  setMarking(highestMarking([gridMarking, $("#diff-view").hidden ? null : diffMarking]));
}

function regionKey(r) {
  return JSON.stringify([r.kind, r.label, r.box, r.points, r.control]);
}

function diffColors(item) {
  const before = new Map();
  const after = new Map();
  for (const c of item.changes) {
    if (c.before) before.set(regionKey(c.before), c.change);
    if (c.after) after.set(regionKey(c.after), c.change);
  }
  const whole = item.change === "added" ? "added" : item.change === "removed" ? "removed" : null;
  return {
    before: (r) => CHANGE_COLORS[whole || before.get(regionKey(r)) || "same"],
    after: (r) => CHANGE_COLORS[whole || after.get(regionKey(r)) || "same"],
  };
}

async function runDiff(ev) {
  if (ev) ev.preventDefault();
  const a = $("#d-a").value;
  const b = $("#d-b").value;
  const params = new URLSearchParams({ a, b, limit: "60" });
  if ($("#d-change").value) params.set("change", $("#d-change").value);
  const mine = ++asked.diff;
  let d;
  try {
    d = await api_(`/diff?${params}`);
  } catch (err) {
    if (mine === asked.diff) $("#diff-summary").textContent = `Could not compare: ${err.message}`;
    return;
  }
  if (mine !== asked.diff) return; // compared again since
  diffMarking = d.marking;
  markPage();
  const s = Object.entries(d.summary).map(([k, v]) => `${v} ${k.replace("_", " ")}`).join(" · ");
  $("#diff-summary").textContent = `${d.before} → ${d.after}: ${d.total} item(s) differ${s ? ` (${s})` : ""}`;
  $("#diff-list").replaceChildren(
    ...d.items.map((it) => {
      const colors = diffColors(it);
      return el(
        "article.diff-item",
        { dataset: { item: it.item_id, change: it.change } },
        el("div.diff-name", { text: `${it.name} · ${it.change}` }),
        el(
          "div.diff-pair",
          {},
          el("div", {}, el("span.small.muted", { text: "before" }), figure(it.thumb_url, it.width, it.height, it.before, { class: "thumb", color: colors.before, alt: "before" })),
          el("div", {}, el("span.small.muted", { text: "after" }), figure(it.thumb_url, it.width, it.height, it.after, { class: "thumb", color: colors.after, alt: "after" })),
        ),
        el("ul.small.diff-changes", {}, it.changes.map((c) => el("li", { dataset: { change: c.change } }, el("span.k-" + c.change, { text: c.change }), ` ${regionText(c.before || c.after)}${c.after && c.before && c.after.label !== c.before.label ? ` → ${c.after.label}` : ""}`))),
      );
    }),
  );
}

async function setupRevisions() {
  const all = await api("GET", "/datasets");
  const ds = all.find((d) => d.name === dataset);
  const revs = [["", "working state"]];
  if (ds) {
    for (const t of ds.tags) revs.push([t.name, `tag ${t.name}`]);
    for (const c of ds.commits) revs.push([c.id.slice(0, 12), `${c.id.slice(0, 8)} ${c.message}`]);
  }
  fillSelect($("#f-rev"), revs.slice(1));
  for (const id of ["#d-a", "#d-b"]) $(id).replaceChildren(...revs.map(([v, t]) => el("option", { value: v, text: t })));
  if (revs.length > 1) $("#d-a").value = revs[1][0];
  const runs = await api_("/runs");
  fillSelect($("#f-run"), runs.map((r) => [r.id, `${r.model} · ${r.created.slice(0, 16)}`]));
}

async function chooser() {
  const box = $("#datasets");
  const all = await api("GET", "/datasets");
  setMarking(highestMarking(all.map((d) => d.marking)));
  box.replaceChildren(
    ...(all.length
      ? all.map((d) => el("article.card.project", { dataset: { dataset: d.name } }, el("div.project-info", {}, el("div.project-name", { text: d.name }), el("div.muted.small", { text: `${d.marking} · ${d.commits.length} recent commit(s)` })), el("nav.project-links", {}, el("a.primary", { href: `/explore/${encodeURIComponent(d.name)}`, text: "Explore" }))))
      : [el("p.muted", { text: "No dataset is open to you yet." })]),
  );
}

async function main() {
  const me = await currentUser();
  showUser(me);
  if (!dataset) {
    await chooser();
    return;
  }
  await setupRevisions();
  for (const [k, v] of new URLSearchParams(location.search)) {
    const field = $("#filters").elements.namedItem(k);
    if (field && field.type === "checkbox") field.checked = v === "true";
    else if (field) field.value = v;
  }
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run();
  });
  let ticking = false;
  $("#grid-scroll").addEventListener("scroll", () => {
    if (ticking) return;
    ticking = true;
    requestAnimationFrame(() => {
      ticking = false;
      draw().catch((err) => toast(err.message, "error"));
    });
  });
  new ResizeObserver(() => draw().catch(() => {})).observe($("#grid-scroll"));
  $("#diff-open").addEventListener("click", () => {
    $("#diff-view").hidden = false;
    runDiff();
  });
  $("#diff-close").addEventListener("click", () => {
    $("#diff-view").hidden = true;
    markPage();
  });
  $("#diff-form").addEventListener("submit", runDiff);
  await run();
}

main().catch((err) => {
  const status = $("#status") || $("#datasets");
  if (status) status.textContent = `Could not load the explorer: ${err.message}`;
  toast(err.message, "error");
});
