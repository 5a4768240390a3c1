// The log-in page: POST the form to the API, then go where the user was heading.

import { api } from "./api.js";
import { $ } from "./ui.js";

/**
 * Only same-site paths are followed after log-in (no open redirect). The URL parser decides,
 * as the browser will when it navigates: it drops tabs and newlines and reads a backslash as
 * "/", so a tab between two slashes names another host.
 */
function nextPath() {
  const raw = new URLSearchParams(location.search).get("next") || "/";
  if (!raw.startsWith("/")) return "/";
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch {
    return "/";
  }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const err = $("#login-error");
  const button = $("#login-submit");
  err.hidden = true;
  button.disabled = true;
  try {
    await api("POST", "/auth/login", {
      username: $("#username").value.trim(),
      password: $("#password").value,
    });
    location.assign(nextPath());
  } catch (e) {
    err.textContent = e.status === 401 || e.status === 403 ? "Wrong user name or password." : e.message;
    err.hidden = false;
    button.disabled = false;
    $("#password").select();
  }
});
