// A small, safe subset of Markdown rendered with DOM nodes: every character of the
// source ends up in a text node, so no markup in the source can become an element.
// Blocks: # headings, paragraphs, - / * / 1. lists, > quotes, ``` code, ---.
// Inline: `code`, **bold**, *italic* / _italic_, [text](http(s)/mailto URL).

import { h } from "./dom.js";

const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

function safeHref(raw) {
  try {
    const url = new URL(raw, document.baseURI);
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

const LINK_START = /\[([^\]]+)\]\(/g;

/**
 * The first `[text](target)` of `text`, as a match: [whole, text, target] with `index`.
 * The target has no spaces and may hold balanced parentheses
 * (https://en.wikipedia.org/wiki/Foo_(bar)); the first unbalanced ")" ends it.
 */
function findLink(text) {
  LINK_START.lastIndex = 0;
  for (let m = LINK_START.exec(text); m; m = LINK_START.exec(text)) {
    const start = LINK_START.lastIndex;
    let depth = 0;
    for (let i = start; i < text.length && !/\s/.test(text[i]); i += 1) {
      if (text[i] === "(") depth += 1;
      else if (text[i] === ")" && depth > 0) depth -= 1;
      else if (text[i] === ")") {
        if (i === start) break;
        const match = [text.slice(m.index, i + 1), m[1], text.slice(start, i)];
        match.index = m.index;
        return match;
      }
    }
    LINK_START.lastIndex = m.index + 1; // not a link: look for the next "["
  }
  return null;
}

const INLINE = [
  { re: /`([^`]+)`/, make: (m) => h("code", { text: m[1] }) },
  { re: /\*\*(.+?)\*\*|__(.+?)__/, make: (m) => h("strong", null, inline(m[1] ?? m[2])) },
  {
    re: /\*(?!\s)(.+?)\*|(?<![\w])_(?!\s)(.+?)_(?![\w])/,
    make: (m) => h("em", null, inline(m[1] ?? m[2])),
  },
  {
    re: { exec: findLink },
    make: (m) => {
      const href = safeHref(m[2]);
      if (!href) return document.createTextNode(m[1]);
      return h("a", { href, target: "_blank", rel: "noopener noreferrer" }, inline(m[1]));
    },
  },
];

/** Inline markup of one piece of text, as an array of nodes. */
export function inline(text) {
  const nodes = [];
  let rest = text;
  while (rest) {
    let best = null;
    for (const rule of INLINE) {
      const m = rule.re.exec(rest);
      if (m && (best === null || m.index < best.m.index)) best = { m, rule };
    }
    if (!best) {
      nodes.push(document.createTextNode(rest));
      break;
    }
    if (best.m.index > 0) nodes.push(document.createTextNode(rest.slice(0, best.m.index)));
    nodes.push(best.rule.make(best.m));
    rest = rest.slice(best.m.index + best.m[0].length);
  }
  return nodes;
}

const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s*([-*_])(\s*\1){2,}\s*$/;
const FENCE = /^\s*(```|~~~)/;
const QUOTE = /^\s*>\s?(.*)$/;

/**
 * Render markdown text into a DocumentFragment. `headingOffset` shifts heading levels
 * (e.g. 2 turns "#" into <h3>) so that instructions fit under the page's own headings.
 */
export function renderMarkdown(source, { headingOffset = 2 } = {}) {
  const fragment = document.createDocumentFragment();
  const lines = String(source || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let paragraph = [];

  const flush = () => {
    if (paragraph.length) fragment.append(h("p", null, inline(paragraph.join(" "))));
    paragraph = [];
  };

  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      flush();
      i += 1;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      flush();
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // closing fence
      fragment.append(h("pre", null, h("code", { text: body.join("\n") })));
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      flush();
      const level = Math.min(6, heading[1].length + headingOffset);
      fragment.append(h(`h${level}`, null, inline(heading[2])));
      i += 1;
      continue;
    }
    if (RULE.test(line)) {
      flush();
      fragment.append(h("hr"));
      i += 1;
      continue;
    }
    const listKind = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (listKind) {
      flush();
      const list = h(listKind === BULLET ? "ul" : "ol");
      while (i < lines.length && lines[i].trim()) {
        const m = listKind.exec(lines[i]);
        if (m) list.append(h("li", null, inline(m[1])));
        else if (list.lastChild) list.lastChild.append(" ", ...inline(lines[i].trim()));
        i += 1;
      }
      fragment.append(list);
      continue;
    }
    if (QUOTE.test(line)) {
      flush();
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
      fragment.append(h("blockquote", null, h("p", null, inline(quoted.join(" ")))));
      continue;
    }
    paragraph.push(line.trim());
    i += 1;
  }
  flush();
  return fragment;
}
