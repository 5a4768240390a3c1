// The project dashboard (/dashboard/{project}): progress, throughput, annotators, agreement.
// Charts are inline SVG built here; refreshes every 30 s.

import { api, currentUser } from "./api.js";
import { $, el, projectFromPath, setMarking, showUser } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
const REFRESH_MS = 30000;
const project = projectFromPath();

async function main() {
  const me = await currentUser();
  showUser(me);
  const title = $("#title").textContent.trim() || project; // the template fills in the title
  $("#title").textContent = `Dashboard: ${title}`;
  document.title = `${title} · dashboard · assay`;
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

async function refresh() {
  try {
    const d = await api("GET", `/projects/${encodeURIComponent(project)}/dashboard`);
    render(d);
    $("#updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("#dashboard").replaceChildren(el("p.error", { text: `Could not load the dashboard: ${err.message}` }));
  }
}

function render(d) {
  setMarking(d.marking);
  const tasks = d.tasks || 0;
  const pct = tasks ? (100 * (d.done || 0)) / tasks : 0;
  const tph = d.throughput_per_hour;
  const rate = Array.isArray(tph) ? (tph.length ? tph[tph.length - 1] : 0) : tph;
  const parts = [
    el(
      "div.kpis",
      {},
      kpi("tasks", tasks),
      kpi("done", `${d.done || 0} (${pct.toFixed(0)}%)`, "done"),
      kpi("in progress", d.in_progress || 0),
      d.gold_tasks ? kpi("gold tasks (apart)", d.gold_tasks, "gold") : null,
      kpi("submitted in the last hour", fmt(rate), "throughput"),
      kpi("agreement", agreementHeadline(d.agreement), "agreement"),
      d.skipped !== undefined ? kpi("skipped", d.skipped) : null,
      d.review ? kpi("review pending", d.review.pending ?? 0, "review-pending") : null,
      d.review ? kpi("reviewed (accepted)", d.review.accepted ?? 0, "review-accepted") : null,
    ),
    el("section.dash-section", {}, el("h2", { text: "Progress" }), progressSvg(d.done || 0, d.in_progress || 0, tasks)),
    Array.isArray(tph) && tph.length
      ? el("section.dash-section", {}, el("h2", { text: "Submissions per hour" }), barsSvg(tph.map((v, i) => [`${i - tph.length + 1}h`, Number(v) || 0])))
      : null,
    el("section.dash-section", {}, el("h2", { text: "Annotators" }), annotatorTable(d.annotators || []),
      d.gold_min_accuracy !== undefined && d.gold_min_accuracy !== null
        ? el("p.muted.small", { text: `Annotators below ${pctText(d.gold_min_accuracy)} gold accuracy are paused.` })
        : null),
    el("section.dash-section", {}, el("h2", { text: "Submitted per annotator" }), barsSvg((d.annotators || []).map((a) => [a.name, Number(a.submitted) || 0]))),
    agreementSection(d.agreement),
    prelabelSection(d.prelabels),
    typeof d.agreement === "number" || d.agreement === null
      ? el("p.muted.small", { text: `Agreement: mean pairwise agreement over ${d.agreement_tasks ?? 0} tasks labelled by two or more annotators.` })
      : null,
  ];
  $("#dashboard").replaceChildren(...parts.filter(Boolean));
}

function kpi(label, value, name = label) {
  return el("div.kpi", { dataset: { kpi: name } }, el("div.kpi-value", { text: value }), el("div.kpi-label", { text: label }));
}

function fmt(v, digits = 1) {
  if (v === null || v === undefined || v === "") return "—";
  const n = Number(v);
  return Number.isFinite(n) ? (Number.isInteger(n) ? String(n) : n.toFixed(digits)) : String(v);
}

function pctText(v) {
  return v === null || v === undefined ? "—" : `${(100 * Number(v)).toFixed(0)}%`;
}

function annotatorTable(rows) {
  if (!rows.length) return el("p.muted", { text: "Nobody has submitted yet." });
  const th = (t, num) => el("th", { class: num ? "num" : null, text: t });
  const td = (t, num) => el("td", { class: num ? "num" : null, text: t });
  return el(
    "table.annotators",
    {},
    el("thead", {}, el("tr", {}, th("annotator"), th("submitted", 1), th("rejected", 1), th("submitted in the last hour", 1), th("s / task", 1), th("gold seen", 1), th("gold accuracy", 1), th("status"))),
    el(
      "tbody",
      {},
      rows.map((a) =>
        el(
          "tr",
          { class: a.paused ? "paused" : null, dataset: { annotator: a.name } },
          td(a.name),
          td(fmt(a.submitted), 1),
          td(fmt(a.rejected ?? 0), 1),
          td(fmt(a.last_hour), 1),
          td(fmt(a.mean_seconds), 1),
          td(fmt(a.gold_seen), 1),
          td(pctText(a.gold_accuracy), 1),
          td(a.paused ? "paused (gold accuracy too low)" : "active"),
        ),
      ),
    ),
  );
}

// Per model version: the tasks showing its pre-labels, and what annotators did with them (the figure that says whether it saves work).
function prelabelSection(rows) {
  if (!Array.isArray(rows) || !rows.length) return null;
  const th = (t, num) => el("th", { class: num ? "num" : null, text: t });
  const td = (t, num) => el("td", { class: num ? "num" : null, text: t });
  return el(
    "section.dash-section",
    {},
    el("h2", { text: "Model pre-labels" }),
    el(
      "table.prelabels",
      {},
      el("thead", {}, el("tr", {}, th("model"), th("pre-labelled", 1), th("answered", 1), th("pre-labels", 1), th("accepted unchanged", 1), th("edited", 1), th("deleted", 1), th("added", 1), th("accepted share", 1))),
      el(
        "tbody",
        {},
        rows.map((r) =>
          el(
            "tr",
            { dataset: { model: r.model } },
            td(r.model),
            td(fmt(r.prelabelled), 1),
            td(fmt(r.tasks), 1),
            td(fmt(r.regions), 1),
            td(fmt(r.accepted), 1),
            td(fmt(r.edited), 1),
            td(fmt(r.deleted), 1),
            td(fmt(r.added), 1),
            td(pctText(r.accepted_share), 1),
          ),
        ),
      ),
    ),
  );
}

function agreementHeadline(ag) {
  if (ag === null || ag === undefined) return "—";
  if (typeof ag === "number") return ag.toFixed(2);
  const nums = Object.values(ag).filter((v) => typeof v === "number");
  return nums.length ? (nums.reduce((a, b) => a + b, 0) / nums.length).toFixed(2) : "—";
}

function agreementSection(ag) {
  if (!ag || typeof ag !== "object") return null;
  const rows = Object.entries(ag);
  if (!rows.length) return null;
  return el(
    "section.dash-section",
    {},
    el("h2", { text: "Agreement" }),
    el("table", {}, el("tbody", {}, rows.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td.num", { text: typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v, 3) }))))),
  );
}

function svg(tag, attrs = {}, ...children) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  for (const c of children) n.append(c);
  return n;
}

function progressSvg(done, inProgress, total) {
  const W = 600;
  const w = (v) => (total ? (W * v) / total : 0);
  return svg(
    "svg",
    { class: "chart progress", viewBox: `0 0 ${W} 34`, role: "img", "aria-label": `${done} of ${total} done` },
    svg("rect", { x: 0, y: 4, width: W, height: 16, rx: 4, fill: "#e6e9ee" }),
    svg("rect", { x: 0, y: 4, width: w(done), height: 16, rx: 4, fill: "#2e7d32" }),
    svg("rect", { x: w(done), y: 4, width: w(inProgress), height: 16, fill: "#f0c36d" }),
    svg("text", { x: 0, y: 32 }, `${done} done · ${inProgress} in progress · ${Math.max(0, total - done - inProgress)} open`),
  );
}

function barsSvg(pairs) {
  if (!pairs.length) return el("p.muted", { text: "No data yet." });
  const W = 600;
  const H = 120;
  const TOP = 14; // room for the value above the tallest bar
  const max = Math.max(1, ...pairs.map(([, v]) => v));
  const bw = Math.min(W / pairs.length, 64);
  return svg(
    "svg",
    { class: "chart bars", viewBox: `0 0 ${W} ${H + TOP + 16}`, role: "img", "aria-label": "bar chart" },
    ...pairs.flatMap(([label, v], i) => {
      const h = (H * v) / max;
      const cx = i * bw + bw / 2;
      const few = pairs.length <= 24;
      return [
        svg("rect", { class: "bar-rect", x: i * bw + 4, y: TOP + H - h, width: Math.max(1, bw - 8), height: h }, svg("title", {}, `${label}: ${v}`)),
        few ? svg("text", { x: cx, y: TOP + H - h - 3, "text-anchor": "middle" }, String(v)) : "",
        few ? svg("text", { x: cx, y: TOP + H + 12, "text-anchor": "middle" }, label) : "",
      ];
    }),
  );
}

main().catch((err) => $("#dashboard").replaceChildren(el("p.error", { text: err.message })));
