// A small time-series line chart in inline SVG: a few series over a shared time axis, the
// y axis from 0 to the largest value. No library; redrawn whole on every new point.
const NS = "http://www.w3.org/2000/svg";
const W = 640;
const H = 200;
const PAD = { left: 40, right: 10, top: 10, bottom: 22 };

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * series: [{ name, className, points: [[timeMs, value], ...] }]; all share the time axis.
 * Returns an <svg> with one <polyline> per series (class = className, data-series = name).
 */
export function lineChart(series, { title = "" } = {}) {
  const all = series.flatMap((s) => s.points);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
  if (!all.length) return root;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(t0 + 1000, ...all.map((p) => p[0]));
  const top = Math.max(1, ...all.map((p) => p[1]));
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  root.append(
    svg("line", { x1: PAD.left, y1: y(0), x2: W - PAD.right, y2: y(0), class: "axis" }),
    svg("line", { x1: PAD.left, y1: y(top), x2: W - PAD.right, y2: y(top), class: "grid" }),
    svg("text", { x: PAD.left - 4, y: y(top) + 4, "text-anchor": "end", class: "label" }, String(top)),
    svg("text", { x: PAD.left - 4, y: y(0) + 4, "text-anchor": "end", class: "label" }, "0"),
    svg("text", { x: PAD.left, y: H - 6, class: "label" }, new Date(t0).toLocaleTimeString()),
    svg("text", { x: W - PAD.right, y: H - 6, "text-anchor": "end", class: "label" }, new Date(t1).toLocaleTimeString()),
  );
  for (const s of series) {
    const points = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, class: `line ${s.className}`, "data-series": s.name }));
  }
  return root;
}
