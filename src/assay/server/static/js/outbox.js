// A localStorage outbox: submissions survive dropped connections and page reloads.
//
// Every entry carries the client_id made when the user pressed submit, so sending it again
// after a lost response is safe: the server answers a repeat with the first result.

import { api, ApiError } from "./api.js";

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 15000;

export class Outbox {
  /**
   * @param {string} user  the logged-in user; each user on a shared browser has an own outbox
   * @param {(state: {pending: number, failed: number, error: string|null, refused: string|null}) => void} onChange
   */
  constructor(user, onChange = () => {}) {
    this.key = `assay.outbox.v1.${user}`;
    this.failedKey = `assay.outbox-failed.v1.${user}`;
    this.onChange = onChange;
    this.flushing = null;
    this.timer = null;
    this.delay = RETRY_MIN_MS;
    this.lastError = null;
    window.addEventListener("online", () => this.flush());
    window.addEventListener("storage", (ev) => {
      if (ev.key === this.key || ev.key === this.failedKey) this.notify();
    });
  }

  entries() {
    return read(this.key);
  }

  failed() {
    return read(this.failedKey);
  }

  /** Task ids with a submission not yet acknowledged. */
  pendingTasks() {
    return new Set(this.entries().map((e) => e.task_id));
  }

  /** Tell the page the queue's state; `refused` is the server's reason for an entry it just
   * refused for good. */
  notify(refused = null) {
    this.onChange({
      pending: this.entries().length,
      failed: this.failed().length,
      error: this.lastError,
      refused,
    });
  }

  /** Queue one request ({path, body, task_id}); body.client_id makes it idempotent. */
  add(entry) {
    const all = this.entries();
    all.push({ ...entry, queued: new Date().toISOString(), attempts: 0 });
    write(this.key, all);
    this.notify();
  }

  /** Send everything queued, oldest first; resolves when the queue is empty or blocked. */
  flush() {
    if (!this.flushing) {
      this.flushing = this.sendAll().finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  async sendAll() {
    clearTimeout(this.timer);
    this.timer = null;
    for (;;) {
      const [head] = this.entries();
      if (!head) break;
      try {
        await api("POST", head.path, head.body);
      } catch (err) {
        if (err instanceof ApiError && !err.retryable && err.status !== 401) {
          // The server refused this one for good (e.g. invalid); keep it aside, visible, not lost.
          this.remove(head.body.client_id);
          write(this.failedKey, [...this.failed(), { ...head, error: err.message }]);
          this.notify(err.message);
          continue;
        }
        this.bump(head.body.client_id);
        this.lastError =
          err.status === 401 ? "session expired: log in again to send" : err.message;
        this.schedule();
        this.notify();
        return false;
      }
      this.remove(head.body.client_id);
      this.delay = RETRY_MIN_MS;
      this.lastError = null;
    }
    this.notify();
    return true;
  }

  schedule() {
    if (this.timer) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, RETRY_MAX_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, wait);
  }

  remove(clientId) {
    write(
      this.key,
      this.entries().filter((e) => e.body.client_id !== clientId),
    );
  }

  bump(clientId) {
    write(
      this.key,
      this.entries().map((e) =>
        e.body.client_id === clientId ? { ...e, attempts: e.attempts + 1 } : e,
      ),
    );
  }
}

function read(key) {
  try {
    const v = JSON.parse(localStorage.getItem(key) || "[]");
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function write(key, value) {
  localStorage.setItem(key, JSON.stringify(value));
}
