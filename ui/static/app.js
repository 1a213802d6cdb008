// ledgerflow web UI: live regions, confirmed actions, values on request, the point-in-time
// slider and login.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

function flash(text, ok) {
  const box = document.getElementById("flash");
  box.textContent = text;
  box.className = ok ? "flash ok" : "flash bad";
  box.hidden = false;
}

function setLiveStatus(text) {
  const status = document.getElementById("live-status");
  status.textContent = text;
  status.hidden = !text;
}

// A live region re-renders its body (data-src) when its stream (data-stream) reports a
// change, or every data-poll ms; never while the user is typing in it, and at most once a
// second (changes meanwhile are caught by the next render), so a large run that changes
// all the time costs the server one page render per second per open page.
const regions = [];
const MIN_REFRESH_GAP_MS = 1000;

function liveRegion(region) {
  let busy = false;
  let again = false;
  let lastStart = -MIN_REFRESH_GAP_MS;
  let timer = null;
  async function refresh() {
    if (busy) { again = true; return; }
    const wait = lastStart + MIN_REFRESH_GAP_MS - Date.now();
    if (wait > 0) {
      timer = timer || setTimeout(() => { timer = null; refresh(); }, wait);
      return;
    }
    if (region.contains(document.activeElement) && document.activeElement.matches("input, select")) return;
    busy = true;
    lastStart = Date.now();
    try {
      const answer = await fetch(region.dataset.src, { headers: { Accept: "text/html" } });
      if (answer.ok) region.innerHTML = await answer.text();
    } catch (error) {
      setLiveStatus("offline");
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }
  if (region.dataset.stream) {
    const stream = new EventSource(region.dataset.stream);
    stream.onopen = () => setLiveStatus("live");
    stream.onerror = () => setLiveStatus("reconnecting…");
    stream.addEventListener("run", (event) => {
      // The stream begins with the run's head: nothing to do if the page already shows it.
      const shown = region.querySelector("[data-head-seq]");
      const head = JSON.parse(event.data);
      if (shown && shown.dataset.headSeq === String(head.head_seq) && shown.dataset.state === head.state) return;
      refresh();
    });
    stream.addEventListener("runs", refresh);
  }
  if (region.dataset.poll) setInterval(refresh, Number(region.dataset.poll));
  regions.push(refresh);
}

// Actions: a button with data-action asks for confirmation, then POSTs with the CSRF token.
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
}

// One URL path segment, "/" encoded; "." and ".." (even encoded) are a step in the path, and
// no tag: refused here.
function segment(value) {
  if (value === "." || value === "..") throw new Error(`"${value}" cannot name a tag`);
  return encodeURIComponent(value);
}

function describe(button) {
  const values = {};
  let body = button.dataset.body ? JSON.parse(button.dataset.body) : {};
  if (button.dataset.input) {
    const input = document.getElementById(button.dataset.input);
    values.value = input.value;
    body = { [input.name]: Number(input.value) };
  }
  if (button.dataset.tagInput) values.tag = document.getElementById(button.dataset.tagInput).value.trim();
  const url = button.dataset.action || fill(button.dataset.actionTemplate, { tag: segment(values.tag) });
  return { url, body, message: fill(button.dataset.confirm, values) };
}

async function act(button, action) {
  button.disabled = true;
  try {
    const answer = await fetch(action.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(action.body),
    });
    const result = await answer.json().catch(() => ({}));
    if (answer.ok) flash(`${button.textContent.trim()}: done`, true);
    else flash(`${button.textContent.trim()} refused (${answer.status}): ${result.detail || answer.statusText}`, false);
  } finally {
    button.disabled = false;
    regions.forEach((refresh) => refresh());
  }
}

function confirmThen(button) {
  const action = describe(button);
  const dialog = document.getElementById("confirm");
  dialog.querySelector(".message").textContent = action.message;
  dialog.returnValue = "";
  dialog.onclose = () => { if (dialog.returnValue === "confirm") act(button, action); };
  dialog.showModal();
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action], button[data-action-template]");
  if (!button) return;
  event.preventDefault();
  try { confirmThen(button); } catch (error) { flash(error.message, false); }
});

// A result's value is loaded only when asked (button data-value-url): the answer's text, or
// the note saying why there is none (a problem, such as altered bytes, in red), replaces the
// button's box (data-target).
function valueNodes(shown, id) {
  const nodes = [];
  if (shown.text !== null && shown.text !== undefined) {
    const pre = document.createElement("pre");
    pre.className = "json preview";
    pre.id = id;
    pre.textContent = shown.text;
    nodes.push(pre);
  }
  if (shown.note) {
    const note = document.createElement("p");
    note.className = shown.problem ? "error problem" : "muted";
    if (shown.problem) {
      note.setAttribute("role", "alert");
      note.dataset.problem = shown.problem.kind;
    }
    note.textContent = shown.note;
    nodes.push(note);
  }
  return nodes;
}

async function showValue(button) {
  const box = document.getElementById(button.dataset.target);
  button.disabled = true;
  button.textContent = "Loading…";
  let shown;
  try {
    const answer = await fetch(button.dataset.valueUrl, { headers: { Accept: "application/json" } });
    const body = await answer.json().catch(() => ({}));
    shown = answer.ok ? body : { note: `refused (${answer.status}): ${body.detail || answer.statusText}`, problem: { kind: "refused" } };
  } catch (error) {
    shown = { note: `the server could not be reached: ${error.message}`, problem: { kind: "unreachable" } };
  }
  box.replaceChildren(...valueNodes(shown, button.dataset.target.replace(/-box$/, "")));
}

// Copy a full hash; without clipboard access (an insecure origin, a denied permission),
// select it for the user to copy.
async function copyText(button) {
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copied";
  } catch (error) {
    const range = document.createRange();
    range.selectNodeContents(button.previousElementSibling);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    button.textContent = "Selected: copy it";
  }
}

document.addEventListener("click", (event) => {
  const show = event.target.closest("button[data-value-url]");
  if (show) showValue(show);
  const copy = event.target.closest("button[data-copy]");
  if (copy) copyText(copy);
});

// The point-in-time slider shows the seq it points at.
document.addEventListener("input", (event) => {
  const slider = event.target;
  if (slider.dataset.output) document.getElementById(slider.dataset.output).value = slider.value;
});

function setUpLogin(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answer = await fetch("/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: form.elements.token.value }),
    });
    if (answer.ok) { window.location.assign(sameOrigin(form.dataset.next)); return; }
    const problem = document.getElementById("login-problem");
    problem.textContent = (await answer.json().catch(() => ({}))).detail || "login failed";
    problem.hidden = false;
  });
}

function sameOrigin(target) {
  const url = new URL(target, window.location.origin);
  return url.origin === window.location.origin ? url.pathname + url.search + url.hash : "/";
}

function setUpLogout(button) {
  button.addEventListener("click", async () => {
    await fetch("/logout", { method: "POST" });
    window.location.assign("/login");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".live").forEach(liveRegion);
  const login = document.getElementById("login");
  if (login) setUpLogin(login);
  const logout = document.getElementById("logout");
  if (logout) setUpLogout(logout);
});
