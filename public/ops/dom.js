// Builds DOM from data without HTML strings: everything the API returns (dead-letter bodies,
// reasons, SKUs) goes in as text, never as markup.

/** h("td", { class: "num" }, "3") -> <td class="num">3</td>; children may be nodes, text, arrays or null. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function table(headings, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headings.map((t) => h("th", {}, t)))), h("tbody", {}, rows));
}

/** "12 s ago", "3 min ago" from an ISO time. */
export function ago(iso) {
  if (!iso) return "";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

/** A panel's colour: ok (green), warn (amber), bad (red), off (grey: no data). */
export function setPanel(panel, state, ...content) {
  panel.dataset.state = state;
  panel.querySelector(".body").replaceChildren(...content.flat().filter((c) => c !== null && c !== undefined));
}
