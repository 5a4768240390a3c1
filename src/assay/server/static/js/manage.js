// The data manager (/manage/{project}): the project's tasks filtered and sorted by the server,
// one task's full record, and bulk actions on the selected tasks. The filters live in the URL.

import { api, currentUser } from "./api.js";
import { figure } from "./overlay.js";
import { $, el, projectFromPath, setMarking, showUser, toast } from "./ui.js";

const project = projectFromPath();
const form = $("#filters");
const selected = new Set();
let page = { total: 0, offset: 0, limit: 50, tasks: [] };
let facetsShown = false;
let me = null;
// Loads overlap (a bulk action reloads the list while the filters are cleared): only the answer to
// the newest request is shown, so a slower earlier one never puts back the rows it was asked for.
let loads = 0;

function query() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") params.set(k, String(v).trim());
  return params;
}

function fillForm(params) {
  for (const field of form.elements) {
    if (field.name && params.has(field.name)) field.value = params.get(field.name);
  }
}

function options(select, values, keep = true) {
  const first = keep ? [...select.options].slice(0, 1) : [];
  const current = select.value;
  select.replaceChildren(...first, ...values.map(([v, t]) => el("option", { value: v, text: t })));
  select.value = current;
}

async function load(offset = 0) {
  const params = query();
  params.set("offset", String(offset));
  history.replaceState(null, "", `${location.pathname}?${params}`);
  const started = performance.now();
  const mine = ++loads;
  let answer;
  try {
    answer = await api("GET", `/projects/${encodeURIComponent(project)}/tasks?${params}`);
  } catch (err) {
    if (mine === loads) $("#count").textContent = `Could not load tasks: ${err.message}`;
    return;
  }
  if (mine !== loads) return;
  page = answer;
  const ms = performance.now() - started;
  setMarking(page.marking);
  if (!facetsShown) {
    options($("#f-marking"), page.facets.markings.map((m) => [m, m]));
    options($("#f-label"), page.facets.labels.map((m) => [m, m]));
    fillForm(new URLSearchParams(location.search));
    facetsShown = true;
  }
  selected.clear();
  render();
  // gold tasks are not work: counted apart, as on the dashboard and the project list
  const gold = page.gold || 0;
  const counts = gold ? `${page.total - gold} task(s) and ${gold} gold task(s)` : `${page.total} task(s)`;
  $("#count").textContent = `${counts} match · ${ms.toFixed(0)} ms`;
}

function statusText(t) {
  return { new: "new", in_progress: "in progress", done: "done", skipped: "skipped" }[t.status] || t.status;
}

function render() {
  const body = $("#tasks tbody");
  if (!page.tasks.length) {
    body.replaceChildren(el("tr", {}, el("td.muted", { colspan: 10, text: "No task matches these filters." })));
  } else {
    body.replaceChildren(
      ...page.tasks.map((t, i) =>
        el(
          "tr",
          { dataset: { task: t.id } },
          el("td", {}, el("input", { type: "checkbox", dataset: { idx: i }, "aria-label": `select task ${t.id}`, onchange: (ev) => toggle(t.id, ev.target.checked) })),
          el("td", {}, el("button.link.open-task", { type: "button", text: `#${String(t.id).slice(0, 8)}`, title: String(t.id), onclick: () => openTask(t.id) })),
          el("td.name", { text: t.name, title: t.item_id }),
          el("td", {}, el("span.state", { dataset: { state: t.status }, text: statusText(t) })),
          el("td.num", { text: `${t.done}/${t.target}` }),
          el("td", { text: t.assignments.filter((a) => a.state !== "reset").map((a) => `${a.user} (${a.state}${a.reason ? `: ${a.reason}` : ""})`).join(", ") }),
          el("td", { text: t.review || "—" }),
          el("td", { text: t.gold ? "gold" : "" }),
          el("td.num", { text: t.confidence === null ? "—" : t.confidence.toFixed(2) }),
          el("td.small", { text: t.marking }),
        ),
      ),
    );
  }
  $("#select-all").checked = false;
  const last = Math.min(page.offset + page.limit, page.total);
  $("#page").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
  $("#prev").disabled = page.offset === 0;
  $("#next").disabled = last >= page.total;
  updateBulk();
}

function toggle(id, on) {
  if (on) selected.add(id);
  else selected.delete(id);
  updateBulk();
}

function updateBulk() {
  const n = selected.size;
  $("#selected").textContent = n ? `${n} selected` : "";
  const manager = me && (me.role === "manager" || me.role === "admin");
  for (const id of ["#bulk-reset", "#bulk-gold", "#bulk-reassign"]) $(id).disabled = !n || !manager;
  $("#bulk-review").disabled = !n;
  $("#reassign-to").disabled = !manager;
}

async function bulk(action) {
  const body = { action, task_ids: [...selected] };
  if (action === "reassign") {
    body.to_user = $("#reassign-to").value;
    if (!body.to_user) {
      toast("Choose whom to reassign to first", "error");
      return;
    }
  }
  let msg = "";
  try {
    const r = await api("POST", `/projects/${encodeURIComponent(project)}/tasks/bulk`, body);
    const refused = Object.entries(r.refused || {});
    msg = `${action}: ${r.applied.length} task(s) done` + (refused.length ? `; ${refused.length} left: ${refused.map(([id, why]) => `#${id} ${why}`).join("; ")}` : "");
    toast(msg, refused.length ? "error" : "info");
  } catch (err) {
    toast(`${action} failed: ${err.message}`, "error");
  }
  await load(page.offset);
  // said once the list shows the tasks as the action left them
  if (msg) $("#bulk-result").textContent = msg;
}

async function openTask(id) {
  const box = $("#task-view");
  box.hidden = false;
  box.replaceChildren(el("p.muted", { text: "Loading…" }));
  let t;
  try {
    t = await api("GET", `/projects/${encodeURIComponent(project)}/tasks/${id}`);
  } catch (err) {
    box.replaceChildren(el("p.error", { text: err.message }));
    return;
  }
  const image = t.item.media_type.startsWith("image/");
  const current = t.annotations.filter((a) => a.state === "submitted" || a.kind === "review");
  const shown = current.length ? current[current.length - 1] : t.annotations[t.annotations.length - 1];
  const stage = el("div.task-stage");
  const draw = (ann) => {
    const regions = ann ? ann.regions : t.gold || [];
    stage.replaceChildren(
      image ? figure(t.media_url, t.item.width, t.item.height, regions, { alt: t.item.name, class: "big" }) : el("pre.task-text", { text: t.item.text || "" }),
    );
  };
  draw(shown);
  const parts = [
    el("div.task-head", {}, el("h2", { text: `Task #${String(t.task_id).slice(0, 8)}` }), el("button.link", { type: "button", text: "Close", onclick: () => (box.hidden = true) })),
    el("p.small.muted", { text: `${t.item.name} · ${t.marking} · ${t.done} answer(s) · review: ${t.review || "—"}${t.agreement !== null ? ` · agreement ${t.agreement.toFixed(2)}` : ""}` }),
    stage,
    el("h3", { text: "Annotations (click to show)" }),
    el(
      "ol.provenance",
      { id: "task-annotations" },
      t.annotations.map((a) =>
        el(
          "li",
          { dataset: { kind: a.kind }, onclick: () => draw(a), tabindex: 0 },
          el("strong", { text: a.author }),
          ` ${a.kind}${a.state ? ` · ${a.state}` : ""} · ${a.created}`,
          a.supersedes ? el("span.muted.small", { text: ` · supersedes ${a.supersedes.slice(0, 8)}` }) : null,
          el("div.small", { text: a.regions.map((r) => `${r.kind}:${r.label ?? r.text ?? r.value ?? ""}`).join(", ") || "(nothing drawn)" }),
        ),
      ),
    ),
    el("h3", { text: "Assignments" }),
    el("ul.provenance", {}, t.assignments.map((a) => el("li", { text: `${a.user}: ${a.state}${a.reason ? ` (${a.reason})` : ""}${a.lead_time ? ` · ${a.lead_time.toFixed(1)} s` : ""}` }))),
    t.reviews.length ? el("h3", { text: "Reviews" }) : null,
    t.reviews.length ? el("ul.provenance", {}, t.reviews.map((r) => el("li", { text: `${r.reviewer}: ${r.decision}${r.comment ? ` — ${r.comment}` : ""}` }))) : null,
    t.gold ? el("p.small", {}, el("button.link", { type: "button", text: "Show gold labels", onclick: () => draw(null) })) : null,
  ];
  box.replaceChildren(...parts.filter(Boolean));
}

async function main() {
  me = await currentUser();
  showUser(me);
  fillForm(new URLSearchParams(location.search));
  const users = await api("GET", "/users");
  options($("#f-annotator"), users.map((u) => [u.name, u.name]));
  options($("#reassign-to"), users.filter((u) => u.role !== "admin").map((u) => [u.name, `${u.name} (${u.role})`]));
  const params = new URLSearchParams(location.search);
  if (params.has("annotator")) $("#f-annotator").value = params.get("annotator");
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    load(0);
  });
  form.addEventListener("reset", () => setTimeout(() => load(0), 0));
  $("#prev").addEventListener("click", () => load(Math.max(0, page.offset - page.limit)));
  $("#next").addEventListener("click", () => load(page.offset + page.limit));
  $("#select-all").addEventListener("change", (ev) => {
    for (const box of document.querySelectorAll("#tasks tbody input[type=checkbox]")) {
      box.checked = ev.target.checked;
      toggle(page.tasks[Number(box.dataset.idx)].id, ev.target.checked);
    }
  });
  $("#bulk-reassign").addEventListener("click", () => bulk("reassign"));
  $("#bulk-reset").addEventListener("click", () => bulk("reset"));
  $("#bulk-review").addEventListener("click", () => bulk("review"));
  $("#bulk-gold").addEventListener("click", () => bulk("gold"));
  await load(Number(params.get("offset") || 0));
}

main().catch((err) => toast(err.message, "error"));
