// Berth dashboard: plain JavaScript, no build step. Live updates arrive over SSE
// (EventSource sends the HttpOnly session cookie; the page never sees it).
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
const $ = (sel) => document.querySelector(sel);

function showResult(text, ok) {
  const el = $("#result");
  el.textContent = text;
  el.classList.toggle("failed", !ok);
  el.hidden = false;
}

function confirmAction(text) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "cancel";
    dialog.showModal();
  });
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await response.json(); } catch (e) { /* empty body */ }
  if (!response.ok) {
    throw new Error(data.detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

function badge(text, cls) {
  const span = document.createElement("span");
  span.className = `badge ${cls}`;
  span.textContent = text;
  return span;
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s} s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : `${Math.floor(s / 3600)} h ago`;
}

// One EventSource with a visible connection state; the browser reconnects by itself
// and sends Last-Event-ID, so nothing is missed across a reconnect.
function live(url, handlers) {
  const status = $("#live");
  const source = new EventSource(url);
  source.addEventListener("open", () => { if (status) status.textContent = "live"; });
  source.addEventListener("error", () => {
    if (status) status.textContent = source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…";
    if (handlers.error) handlers.error(source);
  });
  for (const [name, fn] of Object.entries(handlers)) {
    if (name !== "error") source.addEventListener(name, (e) => fn(JSON.parse(e.data), e));
  }
  return source;
}

function incidentItem(ev, withSlug) {
  const li = document.createElement("li");
  li.className = "incident fresh";
  const time = document.createElement("time");
  time.dateTime = ev.at;
  time.textContent = ago(ev.at);
  li.append(time, " ", badge(ev.detail.incident_kind || "incident", `kind-${ev.detail.incident_kind}`), " ");
  if (withSlug) {
    const a = document.createElement("a");
    a.href = `/dashboard/tenants/${ev.slug}`;
    a.textContent = ev.slug;
    li.append(a, " ");
  }
  if (ev.detail.exit_code !== undefined) li.append(`exit code ${ev.detail.exit_code} `);
  const small = document.createElement("small");
  small.textContent = "(open)";
  li.append(small);
  return li;
}

function addIncident(ev, withSlug) {
  $("#incident-feed").prepend(incidentItem(ev, withSlug));
  $("#incidents-empty").hidden = true;
}

// ---- fleet page -------------------------------------------------------------

function setupTable() {
  const table = $("#tenants");
  if (!table) return;
  const body = table.tBodies[0];
  const rows = () => Array.from(body.rows);
  const filter = $("#filter");
  const stateFilter = $("#state-filter");
  function apply() {
    const q = filter.value.trim().toLowerCase();
    const st = stateFilter.value;
    let shown = 0;
    for (const row of rows()) {
      const d = row.dataset;
      const text = `${d.slug} ${d.plan} ${d.version}`.toLowerCase();
      const visible = (!q || text.includes(q)) && (!st || d.state === st);
      row.hidden = !visible;
      if (visible) shown += 1;
    }
    $("#shown").textContent = `${shown} of ${rows().length} shown`;
    $("#no-match").hidden = shown !== 0;
  }
  filter.addEventListener("input", apply);
  stateFilter.addEventListener("change", apply);
  for (const button of table.querySelectorAll("th button")) {
    button.addEventListener("click", () => {
      const th = button.parentElement;
      const key = button.dataset.sort;
      const numeric = button.hasAttribute("data-numeric");
      const dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      for (const other of table.querySelectorAll("th")) other.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir);
      const sign = dir === "ascending" ? 1 : -1;
      const sorted = rows().sort((a, b) => {
        const x = a.dataset[key], y = b.dataset[key];
        const c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return sign * (c || a.dataset.slug.localeCompare(b.dataset.slug));
      });
      body.append(...sorted);
    });
  }
  apply();
}

function setRowState(slug, state, desired) {
  const row = document.querySelector(`#tenants tr[data-slug="${CSS.escape(slug)}"]`);
  if (!row || !state) return;
  const before = row.dataset.state;
  row.dataset.state = state;
  const cell = row.querySelector("td.state");
  cell.replaceChildren(badge(state, `state-${state}`));
  if (before !== state) {
    for (const [s, delta] of [[before, -1], [state, 1]]) {
      const n = document.querySelector(`#state-counts li[data-state="${CSS.escape(s)}"] .n`);
      if (n) n.textContent = String(parseInt(n.textContent, 10) + delta);
    }
  }
}

function renderRollout(counts, state) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const finished = (counts.done || 0) + (counts.failed || 0) + (counts.skipped || 0);
  const percent = total === 0 ? 100 : Math.round((100 * finished) / total);
  const bar = $("#rollout-progress");
  bar.max = Math.max(total, 1);
  bar.value = total === 0 ? 1 : finished;
  bar.closest(".progress-wrap").hidden = false;
  const failed = counts.failed ? `, ${counts.failed} failed` : "";
  $("#rollout-text").textContent = `${finished}/${total} tenants (${percent}%)${failed}`;
  if (state) {
    const st = $("#rollout-state");
    st.textContent = state;
    st.parentElement.hidden = false;
  }
}

let rolloutSource = null;
function followRollout(id) {
  if (rolloutSource) rolloutSource.close();
  $("#rollout").dataset.rolloutId = id;
  rolloutSource = new EventSource(`/dashboard/rollouts/${id}/events`);
  rolloutSource.addEventListener("snapshot", (e) => {
    const r = JSON.parse(e.data);
    $("#rollout-version").textContent = r.blueprint_version;
    renderRollout(r.counts, r.state);
  });
  rolloutSource.addEventListener("target", (e) => renderRollout(JSON.parse(e.data).counts));
  rolloutSource.addEventListener("rollout", (e) => {
    const r = JSON.parse(e.data);
    renderRollout(r.counts, r.state);
  });
  // The stream ends with the rollout; do not let EventSource reconnect forever.
  rolloutSource.addEventListener("error", () => {
    if (!["pending", "canary", "rolling"].includes($("#rollout-state").textContent)) rolloutSource.close();
  });
}

function setupRollout() {
  const box = $("#rollout");
  if (!box) return;
  if (box.dataset.rolloutId && box.dataset.active === "true") followRollout(box.dataset.rolloutId);
  $("#rollout-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const version = $("#rollout-version-select").value;
    const slugs = $("#rollout-slugs").value.split(",").map((x) => x.trim()).filter(Boolean);
    const whom = slugs.length ? `${slugs.length} tenant(s): ${slugs.join(", ")}` : "every tenant";
    if (!(await confirmAction(`Roll out version ${version} to ${whom}?`))) {
      showResult("Rollout cancelled.", true);
      return;
    }
    try {
      const r = await post("/dashboard/rollouts", slugs.length ? { version, slugs } : { version });
      const empty = $("#rollout-empty");
      if (empty) empty.hidden = true;
      $("#rollout-version").textContent = r.version;
      renderRollout(r.counts, r.state);
      followRollout(r.id);
      showResult(r.message, true);
    } catch (err) {
      showResult(`Rollout not started: ${err.message}`, false);
    }
  });
}

function setupFleet() {
  setupTable();
  setupRollout();
  live("/dashboard/events", {
    lifecycle: (ev) => {
      if (ev.kind === "incident") addIncident(ev, true);
      if (ev.detail && ev.detail.to) setRowState(ev.slug, ev.detail.to);
    },
  });
}

// ---- tenant page ------------------------------------------------------------

function describe(ev) {
  const d = ev.detail || {};
  let text = ev.kind.replace(/_/g, " ");
  if (ev.kind === "incident") text = `incident: ${d.incident_kind}${d.exit_code !== undefined ? ` (exit code ${d.exit_code})` : ""}`;
  if (d.reason) text += ` — ${d.reason}`;
  if (ev.duration_seconds !== null && ev.duration_seconds !== undefined) text += ` in ${ev.duration_seconds.toFixed(2)} s`;
  return text;
}

function setupTenant() {
  const slug = $("#tenant").dataset.slug;
  const list = $("#events");
  live(`/dashboard/tenants/${slug}/events`, {
    lifecycle: (ev) => {
      const li = document.createElement("li");
      li.dataset.kind = ev.kind;
      const time = document.createElement("time");
      time.dateTime = ev.at;
      time.textContent = new Date(ev.at).toLocaleTimeString();
      li.append(time, " ", badge(ev.kind, `kind-${ev.kind}`), " ", describe(ev));
      list.prepend(li);
      $("#events-empty").hidden = true;
      if (ev.detail && ev.detail.to) $("#tenant-state").replaceChildren(badge(ev.detail.to, `state-${ev.detail.to}`));
      if (ev.kind === "pause_requested") $("#tenant-desired").textContent = "paused";
      if (ev.kind === "wake_requested") $("#tenant-desired").textContent = "running";
      if (ev.kind === "incident") addIncident(ev, false);
    },
    ready: () => {
      $("#events-loading").hidden = true;
      $("#events-empty").hidden = list.children.length > 0;
    },
    error: () => { $("#events-loading").textContent = "Could not load events; retrying…"; },
  });
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", async () => {
      const action = button.dataset.action;
      if (!(await confirmAction(`${action[0].toUpperCase()}${action.slice(1)} tenant ${slug}?`))) {
        showResult(`${action} cancelled.`, true);
        return;
      }
      button.disabled = true;
      try {
        const r = await post(`/dashboard/tenants/${slug}/${action}`);
        $("#tenant-desired").textContent = r.desired_state;
        showResult(r.message, true);
      } catch (err) {
        showResult(`${action} failed: ${err.message}`, false);
      } finally {
        button.disabled = false;
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const logout = $("#logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try { await post("/dashboard/logout"); } finally { location.href = "/dashboard/login"; }
    });
  }
  const page = document.body.dataset.page;
  if (page === "fleet") setupFleet();
  if (page === "tenant") setupTenant();
});
