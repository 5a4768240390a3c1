// The annotation page (/label/{project}): next task, edit, Enter submits, S skips.
// Submissions go through the localStorage outbox, so a dropped connection loses nothing.

import { api, currentUser, uuid } from "./api.js";
import { Editor } from "./editor.js";
import { EDITOR_HELP, editorKey, editorKeyUp } from "./keys.js";
import { Outbox } from "./outbox.js";
import { normalizeSchema } from "./schema.js";
import { $, el, helpOverlay, projectFromPath, prompt, setMarking, showUser, titleOf, toast, typing } from "./ui.js";

const SKIP_REASONS = ["cannot see enough to decide", "not relevant to this project", "damaged or empty item"];
const WAIT_MS = 1000;

const project = projectFromPath();
const enc = encodeURIComponent;
let editor = null;
let outbox = null;
let current = null; // the task on screen
let shownAt = 0;
let busy = false;
let done = 0;

async function main() {
  const me = await currentUser();
  showUser(me);
  const proj = await api("GET", `/projects/${enc(project)}`);
  document.title = `${proj.schema.title || proj.name} · label · assay`;
  $("#title").textContent = titleOf(proj);
  showInstructions(proj.instructions_html);
  editor = new Editor({
    schema: normalizeSchema(proj.schema),
    stage: $("#stage"),
    side: $("#panel"),
    onChange: updateBar,
  });
  outbox = new Outbox(me.name, showPending);
  outbox.notify();
  const help = helpOverlay([
    ["Task", [["Enter", "submit and show the next task"], ["Ctrl+Enter", "submit while typing"], ["S", "skip with a reason"], ["?", "this help"]]],
    ...EDITOR_HELP,
  ]);
  $("#help-btn").addEventListener("click", () => help.toggle());
  $("#submit").addEventListener("click", submit);
  $("#skip").addEventListener("click", skip);
  $("#undo").addEventListener("click", () => editor.undo());
  $("#redo").addEventListener("click", () => editor.redo());
  document.addEventListener("keyup", (ev) => editorKeyUp(editor, ev));
  document.addEventListener("keydown", (ev) => {
    if (help.open) {
      if (ev.key === "?" || ev.key === "Escape") help.close();
      ev.preventDefault();
      return;
    }
    if (typing(ev)) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        submit();
      }
      return;
    }
    if (ev.key === "?") {
      ev.preventDefault();
      help.toggle();
    } else if (editorKey(editor, ev)) {
      ev.preventDefault();
    } else if (ev.key === "Enter" && !ev.altKey) {
      ev.preventDefault();
      submit();
    } else if ((ev.key === "s" || ev.key === "S") && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      skip();
    }
  });
  outbox.flush();
  await nextTask();
}

function showInstructions(html) {
  const box = $("#instructions");
  if (!html) return;
  // rendered by the server from Markdown with raw HTML escaped and remote images removed
  box.querySelector(".instructions-text").innerHTML = html;
  box.hidden = false;
}

/** Ask for the next task; waits while our own submission for it is still unacknowledged. */
async function nextTask() {
  busy = true;
  updateBar();
  setStatus("loading…");
  try {
    await outbox.flush();
    for (;;) {
      const t = await api("POST", `/projects/${enc(project)}/next`, {});
      if (t === null) return showEmpty();
      if (!outbox.pendingTasks().has(t.task_id)) return await show(t);
      setStatus("waiting for the server to acknowledge the last submission…");
      await sleep(WAIT_MS);
      await outbox.flush();
    }
  } catch (err) {
    if (err.status === 401) {
      // the session ended: log in again and come back; queued submissions wait in the outbox
      location.assign(`/login?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    setStatus(err.message, "error");
    $("#stage").replaceChildren(
      el("div.empty", {}, el("p", { text: `Could not load a task: ${err.message}` }),
        el("button.primary", { type: "button", onclick: () => nextTask(), text: "Retry" })),
    );
  } finally {
    busy = false;
    updateBar();
    // marks the task as ready for input (tests and tools wait for it)
    if (current) $("#stage").dataset.taskId = current.task_id;
  }
}

async function show(t) {
  current = t;
  setMarking(t.item.marking);
  $("#task-info").textContent = t.item.name || t.item.id.slice(0, 12);
  delete $("#stage").dataset.taskId;
  await editor.load(t.item, t.media_url, t.prelabels || [], { pre: true, preSource: t.prelabel_source || "model" });
  if (editor.hasPrelabels) {
    toast(editor.preSource === "record"
      ? "The dataset's current labels are shown dashed: correct what is wrong, then submit"
      : "Model pre-labels shown dashed: correct them, then submit");
  }
  shownAt = performance.now();
  setStatus(done ? `${done} done this session` : "");
  document.body.dataset.state = "task";
}

function showEmpty() {
  current = null;
  setMarking(null);
  $("#task-info").textContent = "";
  delete $("#stage").dataset.taskId;
  editor.item = null;
  editor.view = null;
  $("#panel").replaceChildren();
  $("#stage").replaceChildren(
    el("div.empty", {}, el("h2", { text: "All done" }), el("p", { text: "No task is left for you in this project." }), el("a", { href: "/", text: "Back to projects" })),
  );
  setStatus(done ? `${done} done this session` : "");
  document.body.dataset.state = "empty";
}

function submit() {
  if (!current || busy) return;
  const missing = editor.missing();
  for (const sec of document.querySelectorAll("#panel section.control")) {
    sec.classList.toggle("missing", missing.includes(sec.dataset.control));
  }
  if (missing.length) {
    // the server refuses it too (422); say why here and keep the task on screen
    const reason = `Not submitted: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} required`;
    setStatus(reason, "error");
    toast(reason, "error");
    return;
  }
  const body = {
    client_id: uuid(),
    regions: editor.output(),
    lead_time: Math.max(0.001, (performance.now() - shownAt) / 1000),
    model_assisted: Boolean(editor.hasPrelabels) && editor.preSource === "model",
  };
  outbox.add({ path: `/tasks/${enc(current.task_id)}/submit`, body, task_id: current.task_id });
  current = null;
  done += 1;
  toast("Submitted");
  nextTask();
}

async function skip() {
  if (!current || busy) return;
  const task = current;
  const reason = await prompt("Skip this task — why?", { choices: SKIP_REASONS, placeholder: "or type a reason", required: true });
  if (reason === null || current !== task) return;
  outbox.add({ path: `/tasks/${enc(task.task_id)}/skip`, body: { client_id: uuid(), reason }, task_id: task.task_id });
  current = null;
  toast("Skipped");
  nextTask();
}

function showPending({ pending, failed, error }) {
  const box = $("#pending");
  const parts = [];
  if (pending) parts.push(`${pending} pending`);
  if (failed) parts.push(`${failed} failed`);
  box.textContent = parts.join(" · ");
  box.title = error ? `not sent yet: ${error}` : failed ? "refused by the server; kept in this browser" : "";
  box.dataset.pending = String(pending);
  box.hidden = !parts.length;
  box.classList.toggle("bad", Boolean(failed));
}

function updateBar() {
  const has = Boolean(current) && !busy;
  $("#submit").disabled = !has;
  $("#skip").disabled = !has;
  $("#undo").disabled = !editor || !editor.item || editor.pos === 0;
  $("#redo").disabled = !editor || !editor.item || editor.pos >= (editor.history || []).length - 1;
}

function setStatus(text, kind = "info") {
  const s = $("#status");
  s.textContent = text;
  s.dataset.kind = kind;
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

main().catch((err) => toast(err.message, "error"));
