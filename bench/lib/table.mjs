// A plain-text table for the terminal (and for pasting into an issue): columns are
// { header, align?: "left" | "right", value: (row) => string | number | null }.
export function renderTable(columns, rows) {
  const cells = rows.map((row) => columns.map((c) => format(c.value(row))));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i].length)));
  const pad = (text, i) => (columns[i].align === "left" ? text.padEnd(widths[i]) : text.padStart(widths[i]));
  const line = (parts) => `| ${parts.join(" | ")} |`;
  return [
    line(columns.map((c, i) => pad(c.header, i))),
    line(widths.map((w, i) => (columns[i].align === "left" ? ":" + "-".repeat(w - 1) : "-".repeat(w - 1) + ":"))),
    ...cells.map((r) => line(r.map(pad))),
  ].join("\n");
}

function format(v) {
  if (v === null || v === undefined) return "-";
  return String(v);
}

const grouped = new Intl.NumberFormat("en-US");
export const int = (n) => (n === null || n === undefined ? null : grouped.format(Math.round(n)));
export const ms = (n) => (n === null || n === undefined ? null : n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
export const pct = (n) => (n === null || n === undefined || !Number.isFinite(n) ? null : `${(n * 100).toFixed(n < 0.1 ? 1 : 0)}%`);
