// Progress: the user's own counts, what remains, and per-class counts.

import { fmt, h } from "./dom.js";

export class Progress {
  /**
   * `summary`: a compact header element; `panel`: the side panel element; `onUpdate`:
   * told after each update (others show the figures too). `stats`: the latest figures.
   */
  constructor(config, summary, panel, { onUpdate = () => {} } = {}) {
    this.config = config;
    this.summary = summary;
    this.panel = panel;
    this.onUpdate = onUpdate;
    this.stats = null;
  }

  update(stats) {
    if (!stats) return;
    this.stats = stats;
    const mine = stats.mine || {};
    const total = stats.total || 0;
    const complete = stats.complete || 0;
    // Rounded down: 100% means nothing remains, 239 of 240 reads 99%.
    const pct = total ? Math.floor((100 * complete) / total) : 0;

    const bar = h("progress", {
      class: "al-bar",
      max: total || 1,
      value: complete,
      "aria-label": `${fmt(complete)} of ${fmt(total)} items complete`,
    });
    this.summary.replaceChildren(
      bar,
      h("span", { class: "al-summary-text" },
        h("strong", { text: `${pct}%` }),
        ` · ${fmt(stats.remaining)} remaining of ${fmt(total)}`),
    );

    const figures = [
      ["Labeled by me", mine.labeled ?? 0, "mine-labeled"],
      ["Skipped by me", mine.skipped ?? 0, "mine-skipped"],
      ["Remaining", stats.remaining ?? 0, "remaining"],
      ["Total", total, "total"],
    ];
    // A Map: class names such as "constructor" must not reach Object's own properties.
    const counts = new Map(Object.entries(stats.per_class || {}));
    const names = this.config.categories.map((c) => c.name);
    for (const name of counts.keys()) if (!names.includes(name)) names.push(name);
    const max = Math.max(1, ...names.map((n) => counts.get(n) || 0));

    this.panel.replaceChildren(
      h("dl", { class: "al-figures" },
        figures.map(([label, value, key]) =>
          h("div", { class: "al-figure", dataset: { stat: key } },
            h("dt", { text: label }),
            h("dd", { text: fmt(value) })))),
      h("h3", { class: "al-subhead", text: "Labels per class (everyone)" }),
      h("ul", { class: "al-class-counts" },
        names.map((name) => {
          const n = counts.get(name) || 0;
          return h("li", { dataset: { class: name } },
            h("span", { class: "al-cc-name", text: name }),
            h("span", { class: "al-cc-bar", "aria-hidden": "true" },
              h("span", { style: { width: `${(100 * n) / max}%` } })),
            h("span", { class: "al-cc-n", text: fmt(n) }));
        })),
    );
    this.onUpdate(stats);
  }
}
