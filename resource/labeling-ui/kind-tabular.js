// Tabular renderer (SPEC F-1.1): a row shown as a two-column table, column | value.
// Renderer interface shared by every kind: render(item, config, container), and
// describe(item, config): a line saying what the item is, read out by screen readers.

import { displayValue } from "./dom.js";
import { valueTable } from "./table.js";

/** The columns to show: the display columns, else all but context and existing labels. */
export function shownColumns(data, config) {
  if (config.display_columns && config.display_columns.length) return config.display_columns;
  const hidden = new Set([config.existing_labels_column, ...(config.context_columns || [])]);
  return Object.keys(data).filter((col) => !hidden.has(col));
}

export function render(item, config, container) {
  const data = item.data || {};
  container.replaceChildren(valueTable(data, shownColumns(data, config), {
    caption: "Item to label",
  }));
}

/** The first shown columns as "column: value", cut: what a screen reader says of it. */
export function describe(item, config) {
  const data = item.data || {};
  const text = shownColumns(data, config).slice(0, 3)
    .map((col) => `${col}: ${displayValue(Object.hasOwn(data, col) ? data[col] : null)}`)
    .join("; ");
  return text.length <= 160 ? text : `${text.slice(0, 157)}…`;
}
