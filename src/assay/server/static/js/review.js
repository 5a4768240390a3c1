// The review page (/review/{project}): every annotation of a task overlaid, a colour per
// annotator. Number keys pick one; Enter accepts it, E edits it (Enter then accepts the fix),
// R rejects with a comment.

import { api, currentUser, uuid } from "./api.js";
import { Editor } from "./editor.js";
import { EDITOR_HELP, editorKey, editorKeyUp } from "./keys.js";
import { Outbox } from "./outbox.js";
import { normalizeSchema } from "./schema.js";
import { $, el, helpOverlay, projectFromPath, prompt, setMarking, showOutbox, showUser, titleOf, toast, typing } from "./ui.js";
import { trackSummary } from "./tracks.js";

// colour-blind-friendly, distinct from each other (Okabe–Ito)
const ANNOTATOR_COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#f0e442", "#000000"];

const project = projectFromPath();
const enc = encodeURIComponent;
let editor = null;
let outbox = null;
let task = null;
let picked = -1;
let mode = "pick"; // pick | fix
let busy = false;
// Counted so that only the newest view asked for is shown: a pick, a fix started, Esc, or a
// decision (the next task) makes one still loading stale; the editor drops its item load, and
// its words and buttons are not put over the newer one's.
let viewAsked = 0;
// the project's marking: its title stays on the page when the queue is empty
let projectMarking = null;

async function main() {
  const me = await currentUser();
  showUser(me);
  const proj = await api("GET", `/projects/${enc(project)}`);
  projectMarking = proj.marking;
  document.title = `${proj.schema.title || proj.name} · review · assay`;
  $("#title").textContent = `Review: ${titleOf(proj)}`;
  editor = new Editor({ schema: normalizeSchema(proj.schema), stage: $("#stage"), side: $("#panel") });
  outbox = new Outbox(me.name, (state) => {
    showOutbox(state);
    if (state.refused) {
      // e.g. the annotator amended the answer since it was shown: the task comes back as it is now
      const why = `Refused by the server: ${state.refused} (nothing was recorded)`;
      $("#status").textContent = why;
      toast(why, "error");
    }
  });
  outbox.notify();
  const help = helpOverlay([
    ["Review", [
      ["1 … 9", "pick an annotation"],
      ["Enter", "accept the picked annotation (or the fix while editing)"],
      ["E", "edit the picked annotation (fix, then Enter)"],
      ["R", "reject with a comment"],
      ["Esc", "leave editing"],
      ["?", "this help"],
    ]],
    ...EDITOR_HELP,
  ]);
  $("#help-btn").addEventListener("click", () => help.toggle());
  $("#accept").addEventListener("click", () => (mode === "fix" ? decide("fix") : decide("accept")));
  $("#fix").addEventListener("click", startFix);
  $("#reject").addEventListener("click", reject);
  document.addEventListener("keyup", (ev) => editorKeyUp(editor, ev));
  document.addEventListener("keydown", (ev) => {
    if (help.open) {
      help.key(ev);
      return;
    }
    if (typing(ev)) return;
    if (!task) {
      // no task shown: Enter retries one that could not be loaded
      if (ev.key === "Enter" && !busy && $("#retry")) {
        ev.preventDefault();
        next();
      }
      return;
    }
    const k = ev.key;
    if (k === "?") help.toggle();
    else if (mode === "pick" && /^[1-9]$/.test(k) && Number(k) <= task.annotations.length) pick(Number(k) - 1);
    else if (editorKey(editor, ev)) { /* handled by the editor */ }
    else if (k === "Enter") decide(mode === "fix" ? "fix" : "accept");
    else if (mode === "pick" && (k === "e" || k === "E")) startFix();
    else if (k === "r" || k === "R") reject();
    else if (k === "Escape" && mode === "fix") pick(picked);
    else return;
    ev.preventDefault();
  });
  outbox.flush();
  await next();
}

function colorOf(i) {
  return ANNOTATOR_COLORS[i % ANNOTATOR_COLORS.length];
}

async function next() {
  busy = true;
  // the decided task stays in sight until the next one comes, but nothing is offered on it
  $("#review-mode").textContent = "loading the next task…";
  for (const b of ["#accept", "#fix", "#reject"]) $(b).disabled = true;
  try {
    await outbox.flush();
    for (;;) {
      const t = await api("POST", `/projects/${enc(project)}/review/next`, {});
      if (t === null) return empty();
      if (outbox.pendingTasks().has(t.task_id)) {
        await new Promise((r) => setTimeout(r, 1000));
        await outbox.flush();
        continue;
      }
      task = t;
      setMarking(t.item.marking); // never below the project's declared marking (the page's own)
      $("#task-info").textContent = t.item.name || t.item.id.slice(0, 12);
      delete $("#stage").dataset.taskId;
      renderList();
      await pick(t.annotations.length === 1 ? 0 : -1);
      return;
    }
  } catch (err) {
    loadFailed(err);
  } finally {
    busy = false;
    if (task) $("#stage").dataset.taskId = task.task_id; // ready for input
  }
}

/** No task on screen: the stage shows `message` instead, and nothing is offered. */
function clearTask(message) {
  task = null;
  mode = "pick";
  picked = -1;
  delete $("#stage").dataset.taskId;
  $("#task-info").textContent = ""; // the last task's file name and hint no longer apply
  $("#review-mode").textContent = "";
  setMarking(projectMarking);
  editor.item = null;
  editor.view = null;
  $("#annotations").replaceChildren();
  $("#panel").replaceChildren();
  $("#stage").replaceChildren(message);
  for (const b of ["#accept", "#fix", "#reject"]) $(b).disabled = true;
}

function empty() {
  clearTask(el("div.empty", {}, el("h2", { text: "Nothing to review" }), el("a", { href: "/", text: "Back to projects" })));
}

/** The task (or its image) could not be loaded: nothing of it stays to decide on, and Retry
 * (Enter) asks again; the server hands the task held for this reviewer back first. */
function loadFailed(err) {
  if (err.status === 401) {
    // the session ended: log in again and come back; queued decisions wait in the outbox
    location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
    return;
  }
  const why = `Could not load a review task: ${err.message}`;
  $("#status").textContent = why;
  clearTask(
    el("div.empty", {}, el("p", { text: why }),
      el("button.primary", { type: "button", id: "retry", onclick: () => next(), text: "Retry" }),
      el("p.muted.small", { text: "Enter retries; unsent decisions wait in this browser." })),
  );
}

function renderList() {
  $("#annotations").replaceChildren(
    ...task.annotations.map((a, i) => {
      const sw = el("span.swatch");
      sw.style.setProperty("--swatch", colorOf(i));
      return el(
        "li",
        { dataset: { id: a.id }, "aria-selected": String(i === picked), onclick: () => pick(i) },
        el("kbd", { text: i + 1 }),
        sw,
        el("span.who", { text: (a.author || "").replace(/^user:/, "") }),
        el("span.muted.small", { text: `${a.regions.length} regions${a.lead_time ? ` · ${Math.round(a.lead_time)} s` : ""}` }),
        answers(a),
        trackSummary(a.regions) && el("span.small.track-summary", { text: trackSummary(a.regions) }),
      );
    }),
  );
}

/** The whole-item answers (choices, text, rating) of one annotation, shown in its row so the
 * annotators' answers sit side by side. */
function answers(a) {
  const whole = a.regions.filter((r) => ["choice", "text", "rating"].includes(r.kind));
  if (!whole.length) return null;
  const byControl = new Map();
  for (const r of whole) {
    const v = r.kind === "choice" ? r.label : r.kind === "rating" ? `${r.value}★` : `“${r.text}”`;
    byControl.set(r.control, [...(byControl.get(r.control) || []), v]);
  }
  return el(
    "dl.answers",
    {},
    [...byControl].flatMap(([control, values]) => [el("dt", { text: control }), el("dd", { text: values.join(", "), dataset: { control } })]),
  );
}

/** Show annotation i on top (its answers in the panel), the others faded; -1 shows all alike. */
async function pick(i) {
  const t = task;
  if (!t) return;
  const mine = ++viewAsked;
  mode = "pick";
  picked = i;
  const overlays = t.annotations.flatMap((a, j) =>
    j === i ? [] : a.regions.map((region) => ({ region, color: colorOf(j), faded: i >= 0 })),
  );
  const shown = i >= 0 ? t.annotations[i].regions : [];
  editor.colorFn = i >= 0 ? () => colorOf(i) : null;
  try {
    await editor.load(t.item, t.media_url, shown, { readonly: true, overlays });
  } catch (err) {
    if (mine === viewAsked) loadFailed(err); // e.g. the image could not be loaded
    return;
  }
  if (mine !== viewAsked) return; // another pick, a fix or a decision came while it loaded
  renderList();
  showMode();
}

async function startFix() {
  const t = task;
  // the Fix button is still enabled while a fix loads: a second press would drop its edits
  if (!t || picked < 0 || mode === "fix") return;
  const mine = ++viewAsked;
  mode = "fix";
  editor.colorFn = null;
  try {
    await editor.load(t.item, t.media_url, t.annotations[picked].regions, { readonly: false });
  } catch (err) {
    if (mine === viewAsked) loadFailed(err);
    return;
  }
  if (mine !== viewAsked) return; // Esc, a pick or a decision came while it loaded
  showMode();
}

/** What Enter, E and the buttons do now: the view asked for last. */
function showMode() {
  const fixing = mode === "fix";
  $("#review-mode").textContent = fixing
    ? "Editing: Enter accepts the fix · Esc cancels"
    : picked >= 0 ? "Enter accepts · E edits · R rejects" : "Pick an annotation with its number key.";
  $("#accept").disabled = picked < 0;
  $("#fix").disabled = fixing || picked < 0;
  $("#reject").disabled = false;
}

async function reject() {
  if (!task || busy) return;
  const comment = await prompt("Reject — what is wrong?", { placeholder: "comment for the annotator", required: true });
  if (comment !== null) decide("reject", comment);
}

function decide(decision, comment = "") {
  if (!task || busy) return;
  if (decision !== "reject" && picked < 0) return toast("Pick an annotation first (number key)");
  $("#status").textContent = "";
  const a = picked >= 0 ? task.annotations[picked] : null;
  const body = { client_id: uuid(), decision, annotation_id: a ? a.id : null, comment };
  if (decision === "fix") {
    const missing = editor.missing();
    if (missing.length) {
      // the server would refuse the fix (422): say why and stay in editing
      const reason = `Not accepted: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} required`;
      $("#status").textContent = reason;
      return toast(reason, "error");
    }
    body.regions = editor.output();
  }
  outbox.add({ path: `/tasks/${enc(task.task_id)}/review`, body, task_id: task.task_id });
  toast({ accept: "Accepted", fix: "Fixed and accepted", reject: "Rejected" }[decision]);
  task = null;
  viewAsked += 1; // a pick or a fix of the decided task still loading is not shown
  next();
}

main().catch((err) => toast(err.message, "error"));
