// The keyboard map: what each key does (actionFor, used by the key handler) and how the
// help describes it (keyHelp), side by side so that they stay in step.

/**
 * Keys shown in the help, in order: [keys, what they do]. `context`, `instructions`: the
 * project has context columns, instructions (else their keys only say there are none).
 */
export function keyHelp({ multiLabel, comments, classCount, context = true, instructions = true }) {
  const last = String(Math.min(9, classCount));
  const digits = last === "1" ? ["1"] : ["1", "…", last];
  const rows = [
    multiLabel
      ? [digits, "Select or unselect the n-th class"]
      : [digits, "Label the item with the n-th class and go to the next one"],
  ];
  if (classCount >= 10) rows.push([["0"], "The 10th class"]);
  if (classCount > 10) rows.push([["/"], "Find a class by its name (Enter chooses)"]);
  rows.push(
    multiLabel
      ? [["Enter"], "Save the selected classes and go to the next item"]
      : [["Enter"], "Accept the suggested label (or keep the current label or skip) and go on"],
    [["S"], "Skip this item"],
    [["←"], "Back: your previous item (you can change its label)"],
    [["→"], "Forward: towards your newest item"],
  );
  if (comments) {
    rows.push([["C"], "Write a comment (Ctrl+Enter saves, Esc leaves the box)"]);
  }
  rows.push([["↑", "↓"], "Scroll a long item (PgUp, PgDn, Space: a page; Home, End)"]);
  if (context) rows.push([["X"], "Show or hide the context"]);
  if (instructions) rows.push([["I"], "Show or hide the instructions"]);
  rows.push([["?"], "This help"]);
  return rows;
}

const LETTERS = {
  s: "skip",
  c: "comment",
  x: "context",
  i: "instructions",
  "?": "help",
  "/": "find",
};

/**
 * The action of a keydown outside of text fields, or null.
 * Returns {action, index?}: index is the 0-based class for "class".
 */
export function actionFor(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  const { key, code } = event;
  if (/^[0-9]$/.test(key)) return { action: "class", index: key === "0" ? 9 : Number(key) - 1 };
  // Before the physical digits: "/" is Shift+7 on German, Nordic, Spanish… layouts.
  const letter = LETTERS[key.length === 1 ? key.toLowerCase() : ""];
  if (letter) return { action: letter };
  const digit = /^(?:Digit|Numpad)([0-9])$/.exec(code || "");
  // Only a printed character: with NumLock off the keypad sends ArrowLeft, End…
  if (digit && key.length === 1 && !/^[a-z]$/i.test(key)) {
    // Layouts where digits need Shift (AZERTY…): use the physical key.
    const n = Number(digit[1]);
    return { action: "class", index: n === 0 ? 9 : n - 1 };
  }
  if (key === "Enter") return { action: "submit" };
  if (key === "ArrowLeft") return { action: "back" };
  if (key === "ArrowRight") return { action: "forward" };
  return null;
}

const SCROLLS = {
  ArrowDown: { unit: "line", dir: 1 },
  ArrowUp: { unit: "line", dir: -1 },
  PageDown: { unit: "page", dir: 1 },
  PageUp: { unit: "page", dir: -1 },
  " ": { unit: "page", dir: 1 },
  Home: { unit: "end", dir: -1 },
  End: { unit: "end", dir: 1 },
};

/**
 * The scroll a reading key asks for, {unit: "line"|"page"|"end", dir: 1|-1}, or null.
 * Shift+Space goes up a page, as in a browser.
 */
export function scrollFor(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return null;
  const scroll = SCROLLS[event.key];
  if (!scroll) return null;
  if (event.shiftKey && event.key !== " ") return null;
  return event.shiftKey ? { unit: "page", dir: -1 } : scroll;
}
