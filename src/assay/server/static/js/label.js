// The annotation page (/label/{project}): next task, edit, Enter submits, S skips.
// Submissions go through the localStorage outbox, so a dropped connection loses nothing.

import { api, currentUser, uuid } from "./api.js";
import { Editor } from "./editor.js";
import { EDITOR_HELP, editorKey, editorKeyUp } from "./keys.js";
import { Outbox } from "./outbox.js";
import { normalizeSchema } from "./schema.js";
import { $, el, helpOverlay, highestMarking, projectFromPath, prompt, setMarking, showOutbox, showUser, titleOf, toast, typing } from "./ui.js";

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
let amending = null; // a task this user submitted, reopened to amend: {task_id, name}
let held = null; // the leased task waiting while the user amends an earlier one
let progress = { submitted: 0, tasks: 0 };
let refusal = null; // why the server refused the last answer it refused: shown until a submit
let missingShown = false; // "Not submitted: X is required" is on screen for the task shown
// the project's marking: its title and instructions stay on the page when no task is shown
let projectMarking = null;
// the markings of the submitted tasks listed in the history (their names, reviewers' comments)
let historyMarkings = [];
// the marking of what the stage shows: a task's item, or the project's when no task is shown
let shownMarking = null;

/** The banners: what the stage shows and the history's entries, both on the page (never below
 * the project's declared marking, its title and instructions: the page's own, `setMarking`). */
function markPage(marking = shownMarking) {
  shownMarking = marking;
  setMarking(highestMarking([marking, ...historyMarkings]));
}
// Requests counted so that only the newest one's answer is shown: the history (asked for after
// each submit and on H) and a reopened task (another entry chosen, Esc, or the queue moving on
// meanwhile makes an older answer stale).
let progressAsked = 0;
let reopenAsked = 0;

async function main() {
  const me = await currentUser();
  showUser(me);
  const proj = await api("GET", `/projects/${enc(project)}`);
  projectMarking = proj.marking;
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
    ["Task", [["Enter", "submit and show the next task"], ["Ctrl+Enter", "submit while typing"], ["S", "skip with a reason"], ["H", "your submitted tasks: ↑ ↓ pick one, Enter reopens it to amend, H or Esc closes the list"], ["I", "the instructions: opens them with the focus on them (Tab moves through their links), I or Esc closes them"], ["Esc", "leave an amendment, back to the queue"], ["?", "this help"]]],
    ...EDITOR_HELP,
  ]);
  $("#help-btn").addEventListener("click", () => help.toggle());
  $("#submit").addEventListener("click", submit);
  $("#back").addEventListener("click", backToQueue);
  $("#skip").addEventListener("click", skip);
  $("#undo").addEventListener("click", () => editor.undo());
  $("#redo").addEventListener("click", () => editor.redo());
  document.addEventListener("keyup", (ev) => editorKeyUp(editor, ev));
  document.addEventListener("keydown", (ev) => {
    if (help.open) {
      help.key(ev);
      return;
    }
    // the history's entries take their keys: Enter reopens, Tab and arrows move, Esc or H closes
    if (ev.target instanceof Element && ev.target.closest("#history")) {
      historyKey(ev);
      return;
    }
    // Tab is the editor's (shapes, then controls): I is the way to the instructions; inside
    // them the browser's keys hold (Tab, Enter on a link), Esc or I gives the keys back
    if (ev.target instanceof Element && ev.target.closest("#instructions")) {
      instructionsKey(ev);
      return;
    }
    // a shape's attribute fields (checkboxes and radios too) take their keys: Space ticks,
    // Tab moves on, arrows pick a radio; Esc leaves the field
    const attrField = ev.target instanceof Element && ev.target.closest(".region-attrs");
    if (typing(ev) || attrField) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
        ev.preventDefault();
        submit();
      } else if (ev.key === "Escape" && attrField) {
        ev.target.blur();
      }
      return;
    }
    if (ev.key === "?") {
      ev.preventDefault();
      help.toggle();
    } else if (editorKey(editor, ev)) {
      ev.preventDefault();
    } else if (ev.key === "Escape" && amending) {
      ev.preventDefault();
      backToQueue();
    } else if ((ev.key === "h" || ev.key === "H") && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      if ($("#history").open) closeHistory();
      else openHistory();
    } else if ((ev.key === "i" || ev.key === "I") && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      if ($("#instructions").open) fold($("#instructions"));
      else openInstructions();
    } else if (ev.key === "Enter" && !ev.altKey) {
      ev.preventDefault();
      if (!current && !amending && !busy && $("#retry")) nextTask();
      else submit();
    } else if ((ev.key === "s" || ev.key === "S") && !amending && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      ev.preventDefault();
      skip();
    }
  });
  outbox.flush();
  await refreshProgress();
  await nextTask();
}

/** "task N of M" and the list of this user's submitted tasks (each can be reopened). */
async function refreshProgress() {
  const mine = ++progressAsked;
  try {
    const h = await api("GET", `/projects/${enc(project)}/mine`);
    if (mine !== progressAsked) return; // asked again since: that answer is the newer one
    const list = $("#history");
    const inList = list.contains(document.activeElement);
    const keep = inList ? document.activeElement.closest("#history-list li")?.dataset.taskId : null;
    progress = h;
    historyMarkings = h.history.map((t) => t.marking);
    markPage();
    showProgress();
    $("#history-count").textContent = `(${h.history.length})`;
    $("#history-list").replaceChildren(
      ...h.history.map((t) =>
        el("li", { dataset: t.rejected ? { taskId: t.task_id, rejected: "true" } : { taskId: t.task_id } },
          el("button.linkish", { type: "button", onclick: () => reopen(t.task_id), disabled: t.reviewed, title: t.rejected ? "rejected by a reviewer" : t.reviewed ? "already reviewed" : "reopen to amend" },
            el("span", { text: t.name || t.item_id.slice(0, 12) }),
            el("span.muted.small", { text: ` ${new Date(t.submitted * 1000).toLocaleTimeString()}${t.amended ? " · amended" : ""}${t.reviewed && !t.rejected ? " · reviewed" : ""}` })),
          t.rejected ? el("span.rejected-mark.small", { text: " rejected" }) : null,
          t.review_comment ? el("span.review-comment.small", { text: `: ${t.review_comment}` }) : null),
      ),
    );
    if (inList && list.open) focusHistory(keep);
  } catch (err) {
    if (err.status !== 401 && mine === progressAsked) setStatus(err.message, "error");
  }
}

/** Open the list of submitted tasks where it can be seen, its first reopenable entry focused. */
function openHistory() {
  $("#history").open = true;
  focusHistory();
  refreshProgress(); // keeps the focused entry
}

/** Focus the entry of task `keep` (else the first reopenable one) and bring it into view. */
function focusHistory(keep = null) {
  const h = $("#history");
  const entry = (keep && h.querySelector(`#history-list li[data-task-id="${CSS.escape(keep)}"] button:not(:disabled)`))
    || h.querySelector("#history-list button:not(:disabled)");
  h.scrollIntoView({ block: "nearest" });
  (entry || h.querySelector("summary")).focus();
}

/** Fold a side panel (the history, the instructions): the keys are the editor's again. */
function fold(panel) {
  if (panel.contains(document.activeElement)) document.activeElement.blur();
  panel.open = false;
}

/** Esc, or a panel's own letter (H, I) pressed alone, folds the panel holding the focus. */
function folds(ev, letter) {
  const plain = !ev.ctrlKey && !ev.metaKey && !ev.altKey;
  return ev.key === "Escape" || (ev.key.toLowerCase() === letter && plain);
}

function closeHistory() {
  fold($("#history"));
}

function historyKey(ev) {
  const plain = !ev.ctrlKey && !ev.metaKey && !ev.altKey;
  if (folds(ev, "h")) {
    ev.preventDefault();
    closeHistory();
  } else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && plain) {
    ev.preventDefault();
    const entries = [...document.querySelectorAll("#history-list button:not(:disabled)")];
    const at = entries.indexOf(document.activeElement);
    const to = entries[Math.min(Math.max(at + (ev.key === "ArrowDown" ? 1 : -1), 0), entries.length - 1)];
    if (to) to.focus();
  }
  // Enter and Space press the focused entry, Tab moves on: the browser's own behaviour
}

function showProgress() {
  const box = $("#progress");
  if (amending) box.textContent = `amending ${amending.name}`;
  else if (current) box.textContent = `task ${Math.min(progress.submitted + 1, Math.max(progress.tasks, 1))} of ${progress.tasks}`;
  else box.textContent = progress.tasks ? `${progress.submitted} of ${progress.tasks} submitted` : "";
}

/** Open a task this user submitted, with their answer, to amend it; the queue's task waits. */
async function reopen(taskId) {
  if (busy) return;
  const mine = ++reopenAsked;
  let t;
  try {
    t = await api("GET", `/tasks/${enc(taskId)}/mine`);
  } catch (err) {
    if (mine === reopenAsked) setStatus(err.message, "error");
    return;
  }
  if (mine !== reopenAsked || busy) return; // another entry, Esc or the next task came first
  if (!amending) held = current;
  current = null;
  amending = { task_id: t.task_id, name: t.item.name || t.item.id.slice(0, 12) };
  markPage(t.item.marking);
  $("#task-info").textContent = amending.name;
  showMeta(t.item);
  try {
    await editor.load(t.item, t.media_url, t.regions, { readonly: t.reviewed });
  } catch (err) {
    if (mine !== reopenAsked) return; // another entry, Esc or the next task came first
    // the answer's image could not be loaded: back to the queue's task, saying why
    await backToQueue();
    setStatus(`Could not open your submitted answer: ${err.message}`, "error");
    return;
  }
  if (mine !== reopenAsked) return;
  shownAt = performance.now();
  missingShown = false;
  $("#back").hidden = false;
  $("#submit").firstChild.textContent = "Save amendment ";
  closeHistory();
  setStatus("Amending your submitted answer: Enter saves it as a new version, Esc goes back");
  document.body.dataset.state = "amend";
  $("#stage").dataset.amending = t.task_id;
  showProgress();
  updateBar();
}

/** Leave an amendment: show the leased task again (or ask for one). */
async function backToQueue() {
  reopenAsked += 1; // a task still being reopened is not shown
  amending = null;
  delete $("#stage").dataset.amending;
  $("#back").hidden = true;
  $("#submit").firstChild.textContent = "Submit ";
  setStatus("");
  const t = held;
  held = null;
  if (t) {
    await show(t);
    $("#stage").dataset.taskId = t.task_id; // ready for input again
  } else await nextTask();
  showProgress();
  updateBar();
}

function showMeta(item) {
  const box = $("#item-meta");
  // a JSONL/CSV row's other columns sit under `fields`: show them first, as their own rows
  const raw = item.metadata || {};
  const flat = { ...(raw.fields && typeof raw.fields === "object" ? raw.fields : {}), ...raw };
  delete flat.fields;
  const meta = Object.entries(flat).filter(([, v]) => v !== null && v !== "" && !Array.isArray(v));
  const isText = (item.media_type || "").startsWith("text/");
  box.hidden = !meta.length || !isText;
  box.querySelector("dl").replaceChildren(
    ...meta.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) })]),
  );
}

/** Open the instructions (if the project has any) where they can be seen, focused. */
function openInstructions() {
  const box = $("#instructions");
  if (box.hidden) return;
  box.open = true;
  box.scrollIntoView({ block: "nearest" });
  box.querySelector("summary").focus();
}

function instructionsKey(ev) {
  if (folds(ev, "i")) {
    ev.preventDefault();
    fold($("#instructions"));
  }
  // every other key is the browser's: Tab moves on, Enter follows a link or folds the panel
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
  reopenAsked += 1; // a task still being reopened is not shown over the next one
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
    // the task just sent is gone from the page: nothing of it stays to edit
    clearTask(
      el("div.empty", {}, el("p", { text: `Could not load a task: ${err.message}` }),
        el("button.primary", { type: "button", id: "retry", onclick: () => nextTask(), text: "Retry" }),
        el("p.muted.small", { text: "Enter retries; unsent answers wait in this browser." })),
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
  markPage(t.item.marking);
  $("#task-info").textContent = t.item.name || t.item.id.slice(0, 12);
  delete $("#stage").dataset.taskId;
  showMeta(t.item);
  await editor.load(t.item, t.media_url, t.prelabels || [], { pre: true, preSource: t.prelabel_source || "model" });
  if (editor.hasPrelabels) {
    toast(editor.preSource === "record"
      ? "The dataset's current labels are shown dashed: correct what is wrong, then submit"
      : "Model pre-labels shown dashed: correct them, then submit");
  }
  shownAt = performance.now();
  missingShown = false;
  if (refusal) setStatus(refusal, "error");
  else setStatus(done ? `${done} done this session` : "");
  document.body.dataset.state = "task";
  showProgress();
}

/** No task on screen: the stage shows `message` instead. */
function clearTask(message) {
  current = null;
  $("#item-meta").hidden = true;
  markPage(projectMarking);
  $("#task-info").textContent = "";
  delete $("#stage").dataset.taskId;
  editor.item = null;
  editor.view = null;
  $("#panel").replaceChildren();
  $("#stage").replaceChildren(message);
}

function showEmpty() {
  clearTask(
    el("div.empty", {}, el("h2", { text: "All done" }), el("p", { text: "No task is left for you in this project." }), el("a", { href: "/", text: "Back to projects" })),
  );
  setStatus(done ? `${done} done this session` : "");
  document.body.dataset.state = "empty";
  showProgress();
}

function submit() {
  if ((!current && !amending) || busy) return;
  // a value typed into the panel is stored when its field loses focus (Ctrl+Enter while typing)
  if ($("#panel").contains(document.activeElement)) document.activeElement.blur();
  const bad = editor.attributeProblems();
  if (bad.length) {
    // the server refuses it too (422); say why here, show the shape's controls, keep the task
    editor.select(bad[0].id);
    const reason = `Not submitted: ${bad.map((b) => b.text).join("; ")}`;
    setStatus(reason, "error");
    toast(reason, "error");
    return;
  }
  refusal = null;
  const missing = editor.missing();
  missingShown = missing.length > 0;
  const reason = showMissing(missing);
  if (reason) {
    // the server refuses it too (422); say why here and keep the task on screen
    toast(reason, "error");
    return;
  }
  if (amending) {
    if (editor.readonly) return;
    const body = { client_id: uuid(), regions: editor.output(), lead_time: Math.max(0.001, (performance.now() - shownAt) / 1000) };
    outbox.add({ path: `/tasks/${enc(amending.task_id)}/amend`, body, task_id: amending.task_id });
    toast("Amendment saved");
    outbox.flush().then(refreshProgress);
    backToQueue();
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
  progress.submitted += 1;
  toast("Submitted");
  nextTask().then(refreshProgress);
}

/** Outline the required controls still unanswered and say so; returns the reason, or "". */
function showMissing(missing) {
  for (const sec of document.querySelectorAll("#panel section.control")) {
    sec.classList.toggle("missing", missing.includes(sec.dataset.control));
  }
  const reason = missing.length
    ? `Not submitted: ${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} required`
    : "";
  setStatus(reason, reason ? "error" : "info");
  return reason;
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

function showPending(state) {
  if (state.refused) {
    // an answer the server will not take (e.g. the schema changed since this page loaded)
    refusal = `Refused by the server: ${state.refused} (the answer is kept in this browser)`;
    setStatus(refusal, "error");
    toast(refusal, "error");
  }
  showOutbox(state);
}

function updateBar() {
  // after "Not submitted: X is required", answering X takes the mark off as it happens
  if (missingShown && editor && editor.item) missingShown = Boolean(showMissing(editor.missing()));
  const has = (Boolean(current) || Boolean(amending)) && !busy;
  $("#submit").disabled = !has;
  $("#skip").disabled = !has || Boolean(amending);
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
