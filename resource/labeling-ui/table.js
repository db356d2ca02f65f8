// A column | value table: used for tabular items and for context columns of every kind.

import { displayValue, h } from "./dom.js";

/** A two-column table of `columns` of `data`; values as text, never as markup. */
export function valueTable(data, columns, { caption } = {}) {
  const rows = columns.map((col) => {
    const value = Object.hasOwn(data, col) ? data[col] : undefined; // not Object's own
    const text = displayValue(value);
    const empty = value === null || value === undefined || text === "";
    return h("tr", null,
      h("th", { scope: "row", text: col }),
      // dir=auto: Arabic or Hebrew text is laid out right to left, each cell by itself.
      h("td", { class: empty ? "al-empty" : null, dir: empty ? null : "auto",
        text: empty ? "empty" : text }));
  });
  // aria-label rather than <caption>: a caption breaks Chrome's fixed table layout.
  return h("table", { class: "al-table", "aria-label": caption || null },
    h("tbody", null, rows));
}
