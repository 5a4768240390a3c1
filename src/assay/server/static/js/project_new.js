// New project (/projects/new): a dataset revision, the schema as YAML with a live preview of its
// controls (checked by the server as it will be on create), the workflow; and adding users.

import { api, currentUser } from "./api.js";
import { colorFor } from "./overlay.js";
import { $, el, highestMarking, setMarking, showUser, toast } from "./ui.js";

let datasets = [];
let previewTimer = null;
let previewSeq = 0;

function fillRevisions() {
  const ds = datasets.find((d) => d.name === $("#p-dataset").value);
  const opts = [el("option", { value: "", text: "working state" })];
  if (ds) {
    for (const t of ds.tags) opts.push(el("option", { value: t.name, text: `tag ${t.name} (${t.commit.slice(0, 8)})` }));
    for (const c of ds.commits) opts.push(el("option", { value: c.id.slice(0, 12), text: `${c.id.slice(0, 8)} ${c.message}` }));
  }
  $("#p-revision").replaceChildren(...opts);
}

function controlPreview(c) {
  const head = el("div.control-head", {}, el("span.control-name", { text: c.name }), el("span.control-type", { text: `${c.type}${c.required ? " · required" : ""}${c.multiple ? " · multiple" : ""}` }));
  let body;
  if (["boxes", "polygons", "points", "spans", "choices"].includes(c.type)) {
    body = el(
      "div.palette",
      {},
      c.labels.map((l) => {
        const sw = el("span.swatch");
        sw.style.setProperty("--swatch", l.color || colorFor(l.name));
        return el("span.label-chip.preview-chip", {}, sw, l.name, l.key ? el("kbd", { text: l.key }) : null);
      }),
    );
  } else if (c.type === "rating") {
    body = el("div.stars", {}, Array.from({ length: c.max }, () => el("span.star", { text: "★" })));
  } else if (c.type === "ranking") {
    body = el("p.small.muted", { text: `ranks the item's "${c.candidates_field}" candidates` });
  } else {
    body = el("textarea.free-text", { rows: 2, disabled: true, placeholder: "free text" });
  }
  return el("div.control", { dataset: { control: c.name } }, head, body, attributesPreview(c));
}

/** "attributes: moving (checkbox), colour (select, fixed; vehicle)": what shapes declare. */
function attributesPreview(c) {
  const one = (a, label) => `${a.name} (${a.type}${a.mutable === false ? ", fixed" : ""}${label ? `; ${label}` : ""})`;
  const parts = [...(c.attributes || []).map((a) => one(a, "")), ...c.labels.flatMap((l) => (l.attributes || []).map((a) => one(a, l.name)))];
  return parts.length ? el("p.small.muted.attributes-preview", { text: `attributes: ${parts.join(", ")}` }) : null;
}

async function preview() {
  const seq = ++previewSeq;
  const box = $("#schema-preview");
  try {
    const schema = await api("POST", "/schema/preview", { yaml: $("#p-schema").value });
    if (seq !== previewSeq) return;
    box.replaceChildren(schema.title ? el("p.preview-title", { text: schema.title }) : "", ...schema.controls.map(controlPreview));
    box.dataset.state = "ok";
  } catch (err) {
    if (seq !== previewSeq) return;
    box.replaceChildren(el("p.error", { text: err.message }));
    box.dataset.state = "error";
  }
}

async function create(ev) {
  ev.preventDefault();
  const errBox = $("#create-error");
  errBox.hidden = true;
  const gold = $("#w-gold").value.trim();
  const body = {
    name: $("#p-name").value.trim(),
    title: $("#p-title").value.trim(),
    dataset: $("#p-dataset").value,
    revision: $("#p-revision").value,
    schema_yaml: $("#p-schema").value,
    instructions: $("#p-instructions").value,
    workflow: {
      overlap: Number($("#w-overlap").value || 1),
      review: $("#w-review").value,
      gold: gold || null,
      gold_share: Number($("#w-gold-share").value || 0),
      lease_seconds: Number($("#w-lease").value || 900),
    },
  };
  try {
    const p = await api("POST", "/projects", body);
    location.assign(`/manage/${encodeURIComponent(p.name)}`);
  } catch (err) {
    errBox.textContent = err.message;
    errBox.hidden = false;
  }
}

let usersAsked = 0; // only the newest list of users is shown (each added user asks again)

async function listUsers() {
  const mine = ++usersAsked;
  const users = await api("GET", "/users");
  if (mine !== usersAsked) return;
  $("#users").replaceChildren(...users.map((u) => el("li", { dataset: { user: u.name } }, el("strong", { text: u.name }), ` ${u.role} · ${u.clearance}`)));
}

async function addUser(ev) {
  ev.preventDefault();
  const errBox = $("#user-error");
  errBox.hidden = true;
  try {
    const u = await api("POST", "/users", {
      name: $("#u-name").value.trim(),
      role: $("#u-role").value,
      clearance: $("#u-clearance").value.trim(),
      password: $("#u-password").value,
    });
    toast(`added ${u.name}`);
    $("#new-user").reset();
    await listUsers();
  } catch (err) {
    errBox.textContent = err.message;
    errBox.hidden = false;
  }
}

async function main() {
  const me = await currentUser();
  showUser(me);
  datasets = await api("GET", "/datasets");
  setMarking(highestMarking(datasets.map((d) => d.marking))); // the page lists them
  $("#p-dataset").replaceChildren(...datasets.map((d) => el("option", { value: d.name, text: `${d.name} (${d.marking})` })));
  fillRevisions();
  $("#p-dataset").addEventListener("change", fillRevisions);
  $("#p-schema").addEventListener("input", () => {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(preview, 250);
  });
  $("#new-project").addEventListener("submit", create);
  $("#new-user").addEventListener("submit", addUser);
  await Promise.all([preview(), listUsers()]);
}

main().catch((err) => toast(err.message, "error"));
