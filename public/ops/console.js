// The operator console (/ops): per region, what the admin API says about the system of record,
// dead letters, warehouse circuits, attention rows, recommendation builds, metrics and costs, and a
// live chart of one SKU. Actions go through a confirm dialog, then the admin routes. The token is
// kept in sessionStorage (this tab only) and sent as a bearer token to this origin only.
import { lineChart } from "./chart.js";
import { ago, h, setPanel, table } from "./dom.js";
import { loadMetrics } from "./metrics.js";

const TOKEN_KEY = "ops.adminToken";
const PANELS_EVERY_MS = 10_000;
/** Reconcile and attention ask every object of the region: every third refresh, or on Refresh. */
const HEAVY_EVERY = 3;
const LIVE_EVERY_MS = 1_000;
const LIVE_POINTS = 300;
const GRACE_SECONDS = 60;

const $ = (id) => document.getElementById(id);
const panel = (name) => $(`panel-${name}`);
let region = "";
let panelsTimer = 0;
let liveTimer = 0;
let live = { sku: "", points: [] };
let regionsLoaded = Promise.resolve();
let ticks = 0;

/** One admin call: { status, body, problem } where problem is a readable line for any non-2xx answer. */
async function api(method, path, body) {
  const headers = { authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) ?? ""}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    return { status: 0, body: null, problem: `The API did not answer (${err.message}); is the Worker running?` };
  }
  const text = await res.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  if (res.status === 401) signOut("The API refused the admin token (401 unauthorized). Sign in again with ADMIN_TOKEN.");
  const problem = res.ok ? "" : `${res.status} ${parsed?.code ?? res.statusText}${parsed?.detail ? `: ${parsed.detail}` : ""}`;
  return { status: res.status, body: parsed, problem };
}

// ------------------------------------------------------------------ sign in and out

async function regions() {
  try {
    const doc = await (await fetch("/openapi.json")).json();
    const param = doc.paths["/v1/admin/{region}/costs"].get.parameters.find((p) => p.name === "region");
    return param.schema.enum ?? [param.schema.example ?? "eu"];
  } catch {
    return ["eu"];
  }
}

async function signIn(token) {
  await regionsLoaded; // a sign-in before the region list arrived would ask no region
  sessionStorage.setItem(TOKEN_KEY, token);
  // The cheapest admin route (no Postgres): does the token open the door?
  const res = await fetch(`/v1/admin/${region}/costs`, { headers: { authorization: `Bearer ${token}` } });
  if (res.ok) return showConsole();
  sessionStorage.removeItem(TOKEN_KEY);
  const problem = await res.json().catch(() => ({}));
  $("login-error").textContent =
    res.status === 401
      ? "Wrong admin token: the API answered 401 unauthorized. Use the ADMIN_TOKEN of this deployment (npm start prints it; .dev.vars locally)."
      : res.status === 429
        ? `Too many failed sign-ins from this address; wait ${res.headers.get("retry-after") ?? "a minute"} s and try again.`
        : `Could not sign in: ${res.status} ${problem.code ?? ""} ${problem.detail ?? ""}`;
}

function signOut(message = "") {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(panelsTimer);
  clearInterval(liveTimer);
  $("console").hidden = true;
  $("refresh").hidden = true;
  $("sign-out").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = message;
}

function showConsole() {
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("console").hidden = false;
  $("refresh").hidden = false;
  $("sign-out").hidden = false;
  refreshPanels();
  clearInterval(panelsTimer);
  panelsTimer = setInterval(() => refreshPanels({ heavy: ++ticks % HEAVY_EVERY === 0 }), PANELS_EVERY_MS);
  watch($("live-sku").value.trim());
}

// ------------------------------------------------------------------ actions, always confirmed

function confirmDialog(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const done = (answer) => () => {
      $("confirm-ok").onclick = $("confirm-cancel").onclick = dialog.oncancel = null;
      dialog.close();
      resolve(answer);
    };
    $("confirm-ok").onclick = done(true);
    $("confirm-cancel").onclick = done(false);
    dialog.oncancel = done(false);
    dialog.showModal();
  });
}

/** Asks first; then calls the route, shows what it answered, and refreshes the panels. */
async function act(question, method, path, body, describe) {
  if (!(await confirmDialog(question))) return;
  const result = $("action-result");
  result.dataset.state = "busy";
  result.textContent = `${method} ${path} …`;
  const res = await api(method, path, body);
  result.dataset.state = res.problem ? "bad" : "ok";
  result.textContent = res.problem ? `Failed: ${res.problem}` : describe(res.body);
  refreshPanels();
}

const button = (label, onclick, cls = "") => h("button", { type: "button", class: cls, onclick }, label);

// ------------------------------------------------------------------ panels

async function loadReconcile() {
  const res = await api("GET", `/v1/admin/${region}/reconcile?graceSeconds=${GRACE_SECONDS}&limit=200`);
  if (res.status !== 200) return setPanel(panel("reconcile"), "bad", h("p", { class: "error" }, res.problem));
  const r = res.body;
  const rows = [...r.drift, ...r.lagging].map((c) =>
    h(
      "tr",
      { "data-sku": c.sku, "data-status": c.status },
      h("td", {}, c.sku),
      h("td", { class: `status ${c.status}` }, c.status),
      h("td", { class: "num" }, c.objectVersion),
      h("td", { class: "num" }, c.projectedVersion),
      h("td", {}, c.differences.join("; ")),
      h(
        "td",
        {},
        c.objectVersion > c.projectedVersion
          ? button("Repair", () =>
              act(
                `Resend the events of ${c.sku} in ${region} after version ${c.projectedVersion} to Postgres? The consumer skips what it already has.`,
                "POST",
                `/v1/admin/${region}/stock/${encodeURIComponent(c.sku)}/resend`,
                { after: c.projectedVersion },
                (b) => `Repair of ${b.region}:${b.sku}: ${b.queued} events queued for Postgres.`,
              ),
            )
          : h("span", { class: "muted" }, "a person: npm run db:rebuild or fix by hand"),
      ),
    ),
  );
  const state = r.drift.length ? "bad" : r.lagging.length ? "warn" : "ok";
  setPanel(
    panel("reconcile"),
    state,
    h(
      "p",
      { class: "counts" },
      h("span", { "data-count": "checked" }, r.checked), " checked · ",
      h("span", { "data-count": "ok" }, r.ok), " ok · ",
      h("span", { "data-count": "lagging" }, r.lagging.length), " lagging · ",
      h("span", { "data-count": "drift" }, r.drift.length), " drift",
      r.nextAfter ? h("span", { class: "muted" }, ` (first ${r.checked} SKU-regions; npm run reconcile checks them all)`) : null,
    ),
    rows.length ? table(["SKU", "status", "object v", "Postgres v", "what differs", ""], rows) : null,
  );
}

function letterSummary(d) {
  const m = d.body?.message ?? {};
  if (m.reservationId && m.warehouse !== undefined) return `${m.region}:${m.sku} sale ${String(m.reservationId).slice(0, 12)}… to ${m.warehouse ?? "?"}`;
  if (m.seq !== undefined) return `${m.region}:${m.sku} event ${m.seq} ${m.type ?? ""}`;
  return d.body?.reason ?? "";
}

async function loadDeadLetters() {
  const res = await api("GET", `/v1/admin/${region}/dead-letters?limit=50`);
  if (res.status !== 200) return setPanel(panel("dead-letters"), "bad", h("p", { class: "error" }, res.problem));
  const letters = res.body.deadLetters;
  const waiting = letters.filter((d) => !d.replayedAt);
  const isDispatch = (d) => d.queue.startsWith("warehouse-dispatch");
  const replayable = waiting.filter((d) => !isDispatch(d));
  const rows = letters.map((d) =>
    h(
      "tr",
      { "data-id": d.id },
      h("td", { class: "num" }, d.id),
      h("td", {}, d.queue),
      h("td", {}, letterSummary(d)),
      h("td", { class: "num" }, d.attempts),
      h("td", {}, ago(d.receivedAt)),
      h("td", {}, d.replayedAt ? `replayed ${ago(d.replayedAt)}` : "waiting"),
      h(
        "td",
        {},
        d.replayedAt
          ? null
          : isDispatch(d)
            ? button("Re-dispatch", () =>
                act(`Send dead letter ${d.id} (${letterSummary(d)}) to its warehouse again? It is refused if the sale no longer stands.`, "POST", `/v1/admin/${region}/dead-letters/${d.id}/redispatch`, undefined, (b) => `Dead letter ${b.id}: ${b.outcome}.`),
              )
            : button("Replay", () =>
                act(`Replay dead letter ${d.id} (${letterSummary(d)}) into Postgres?`, "POST", `/v1/admin/${region}/dead-letters/${d.id}/replay`, undefined, (b) => `Dead letter ${b.id}: ${b.outcome}.`),
              ),
      ),
    ),
  );
  setPanel(
    panel("dead-letters"),
    waiting.length ? "bad" : "ok",
    h("p", {}, h("span", { "data-count": "waiting" }, waiting.length), ` waiting, ${letters.length - waiting.length} replayed (newest 50)`, replayable.length > 1 ? [" ", button(`Replay all ${replayable.length}`, () => replayAll(replayable))] : null),
    rows.length ? table(["id", "queue", "what", "attempts", "received", "", ""], rows) : null,
  );
}

async function replayAll(letters) {
  if (!(await confirmDialog(`Replay ${letters.length} dead letters into Postgres, oldest first?`))) return;
  const outcomes = [];
  for (const d of [...letters].reverse()) {
    const res = await api("POST", `/v1/admin/${region}/dead-letters/${d.id}/replay`);
    outcomes.push(res.problem ? `${d.id}: ${res.problem}` : `${d.id}: replayed`);
  }
  $("action-result").textContent = outcomes.join("; ");
  refreshPanels();
}

async function loadCircuits() {
  const res = await api("GET", `/v1/admin/${region}/warehouses/circuits`);
  if (res.status !== 200) return setPanel(panel("circuits"), "bad", h("p", { class: "error" }, res.problem));
  const circuits = res.body.circuits;
  const state = circuits.some((c) => c.state === "open") ? "bad" : circuits.some((c) => c.state !== "closed" || c.failures > 0) ? "warn" : "ok";
  const rows = circuits.map((c) =>
    h(
      "tr",
      { "data-warehouse": c.warehouse },
      h("td", {}, c.warehouse),
      h("td", { class: `status ${c.state}` }, c.state),
      h("td", { class: "num" }, c.failures),
      h("td", {}, c.openUntil ?? ""),
      h("td", {}, c.probeUntil ?? ""),
      h(
        "td",
        {},
        c.state !== "closed" || c.failures > 0
          ? button("Reset", () =>
              act(`Close the circuit of ${c.warehouse} now? Do this once the warehouse is known to be back: parked dispatches go to it at once.`, "POST", `/v1/admin/${region}/warehouses/${encodeURIComponent(c.warehouse)}/circuit/reset`, undefined, (b) => `Circuit of ${b.warehouse}: ${b.state}.`),
            )
          : null,
      ),
    ),
  );
  setPanel(panel("circuits"), state, circuits.length ? table(["warehouse", "state", "failures", "open until", "probe until", ""], rows) : h("p", { class: "muted" }, "No warehouse configured for this region (WAREHOUSES)."));
}

async function loadAttention() {
  const res = await api("GET", `/v1/admin/${region}/attention?limit=200`);
  if (res.status !== 200) return setPanel(panel("attention"), "bad", h("p", { class: "error" }, res.problem));
  const rows = res.body.attention.map((a) => h("tr", {}, h("td", {}, a.sku), h("td", {}, a.holdId ? `${a.holdId.slice(0, 16)}…` : ""), h("td", {}, a.reason), h("td", {}, ago(a.at))));
  setPanel(
    panel("attention"),
    rows.length ? "warn" : "ok",
    h("p", {}, h("span", { "data-count": "attention" }, rows.length), ` rows in ${res.body.checked} SKU-regions`, res.body.nextAfter ? " (first page)" : ""),
    rows.length ? table(["SKU", "reservation", "reason", "when"], rows) : null,
  );
}

async function loadBuilds() {
  const res = await api("GET", `/v1/admin/${region}/recommendations/builds`);
  if (res.status !== 200) return setPanel(panel("builds"), "bad", h("p", { class: "error" }, res.problem));
  const [latest] = res.body.builds;
  if (!latest) return setPanel(panel("builds"), "warn", h("p", {}, "No build yet: the hourly cron builds one, or POST .../recommendations/builds."));
  const live = res.body.builds.find((b) => b.swappedAt && !b.deletedAt);
  const s = live?.summary ?? {};
  setPanel(
    panel("builds"),
    !latest.swappedAt && Date.now() - Date.parse(latest.startedAt) > 15 * 60_000 ? "bad" : live ? "ok" : "warn",
    h("p", {}, live ? `Serving ${live.version}, swapped ${ago(live.swappedAt)}` : "No version is serving yet", latest !== live ? ` · latest ${latest.version} started ${ago(latest.startedAt)}, ${latest.swappedAt ? "swapped" : "not swapped"}` : ""),
    live ? h("p", { class: "muted" }, ["baskets", "users", "items", "keys", "ms"].filter((k) => s[k] !== undefined).map((k) => `${k} ${s[k]}`).join(" · ")) : null,
  );
}

async function loadCosts() {
  const res = await api("GET", `/v1/admin/${region}/costs`);
  if (res.status !== 200) return setPanel(panel("costs"), "bad", h("p", { class: "error" }, res.problem));
  const calls = Object.entries(res.body.calls).sort((a, b) => b[1] - a[1]);
  setPanel(
    panel("costs"),
    "ok",
    h("p", {}, `${res.body.commits} commits, ${res.body.rowsWritten} rows written, ${calls.reduce((n, [, v]) => n + v, 0)} object calls`),
    calls.length ? table(["method", "calls"], calls.slice(0, 8).map(([m, n]) => h("tr", {}, h("td", {}, m), h("td", { class: "num" }, n)))) : null,
  );
}

async function refreshPanels({ heavy = true } = {}) {
  if (!sessionStorage.getItem(TOKEN_KEY)) return;
  const loaders = [loadDeadLetters, loadCircuits, loadBuilds, () => loadMetrics(api, region, panel("metrics")), loadCosts];
  if (heavy) loaders.push(loadReconcile, loadAttention);
  await Promise.all(loaders.map((load) => load().catch((err) => console.error(err))));
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

// ------------------------------------------------------------------ the live SKU

function watch(sku) {
  clearInterval(liveTimer);
  live = { sku, points: [] };
  if (!sku) return setPanel(panel("live"), "off", h("p", { class: "muted" }, "Type a SKU to follow its held, confirmed and available units."));
  sessionStorage.setItem("ops.liveSku", sku);
  pollLive();
  liveTimer = setInterval(pollLive, LIVE_EVERY_MS);
}

async function pollLive() {
  const { sku } = live;
  const res = await api("GET", `/v1/admin/${region}/stock/${encodeURIComponent(sku)}`);
  if (sku !== live.sku) return; // the operator switched SKU meanwhile
  if (res.status !== 200) return setPanel(panel("live"), "bad", h("p", { class: "error" }, res.problem));
  const s = res.body;
  live.points = [...live.points, { at: Date.now(), held: s.held, confirmed: s.confirmed, available: s.available }].slice(-LIVE_POINTS);
  const series = ["held", "confirmed", "available"].map((k) => ({ name: k, className: k, points: live.points.map((p) => [p.at, p[k]]) }));
  setPanel(
    panel("live"),
    s.available > 0 ? "ok" : "warn",
    h(
      "dl",
      { class: "figures", "data-sku": sku },
      ["onHand", "held", "confirmed", "available", "version"].flatMap((k) => [h("dt", { class: k }, k), h("dd", { "data-field": k }, s[k])]),
    ),
    lineChart(series, { title: `${sku} in ${region}: held, confirmed and available units` }),
    h("p", { class: "legend" }, series.map((x) => h("span", { class: x.className }, x.name))),
  );
}

// ------------------------------------------------------------------ start

async function start() {
  const select = $("region");
  select.addEventListener("change", () => {
    region = select.value;
    refreshPanels();
    watch(live.sku);
  });
  $("live-sku").value = new URLSearchParams(location.search).get("sku") ?? sessionStorage.getItem("ops.liveSku") ?? "LIP-NOIR-LTD";
  $("live-form").addEventListener("submit", (e) => {
    e.preventDefault();
    watch($("live-sku").value.trim());
  });
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    signIn($("token").value.trim());
  });
  $("refresh").addEventListener("click", () => refreshPanels());
  $("sign-out").addEventListener("click", () => signOut());
  regionsLoaded = regions().then((list) => {
    for (const r of list) select.append(h("option", { value: r }, r));
    const asked = new URLSearchParams(location.search).get("region");
    if (asked && list.includes(asked)) select.value = asked;
    region = select.value;
  });
  await regionsLoaded;
  document.body.dataset.ready = "true";
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) signIn(token);
}

start();
