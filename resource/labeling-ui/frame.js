// The frame shared by every labeling kind: header, notices, item area, classes, comment,
// actions, progress, instructions and keyboard help. It only draws; the controller decides.

import { fmt, h, replaceChildren } from "./dom.js";
import { keyHelp } from "./keys.js";
import { renderMarkdown } from "./markdown.js";
import { Progress } from "./progress.js";
import { valueTable } from "./table.js";

const KIND_NAMES = {
  tabular: "Tabular",
  image: "Images",
  "image-object": "Object detection",
  sound: "Sound",
  text: "Text",
};

/** Short key name for the n-th class (0-based), or "" past the 10th. */
export function classKey(index) {
  if (index < 9) return String(index + 1);
  return index === 9 ? "0" : "";
}

/**
 * A warning's plain words, then its figures (after "Details:") folded: whoever decides
 * opens them; labelers, on a phone too, keep the item and the classes in view. `open`:
 * unfolded (it was before the warning was redrawn with a retraining's new figures).
 */
function warningParts(text, open) {
  const at = text.indexOf("Details:");
  if (at < 0) return [text];
  return [text.slice(0, at).trim(), " ",
    h("details", { class: "al-warning-details", open: open || undefined },
      h("summary", { text: "Details" }),
      h("span", { text: text.slice(at + "Details:".length).trim() }))];
}

/** The class keys of `count` classes, as the hints name them: "1–4", "1–9, 0". */
export function classKeys(count) {
  if (count <= 1) return "1";
  return count <= 9 ? `1–${count}` : "1–9, 0";
}

function kbd(text) {
  return h("kbd", { text });
}

function items(n) {
  return `${fmt(n)} ${n === 1 ? "item" : "items"}`;
}

/** What the done screen says, from the latest progress figures (null: not known). */
export function doneMessage(stats) {
  const history = "You can still go back through your history with ← to change a label.";
  const remaining = stats ? (stats.remaining ?? 0) : null;
  if (remaining === 0 && !stats.total) {
    return { title: "There is nothing to label: this project has no items.", text: "" };
  }
  if (remaining === 0) {
    return {
      title: "Everything is labeled.",
      text: `All ${items(stats.total || 0)} are complete. ${history}`,
    };
  }
  const skipped = (stats && stats.mine && stats.mine.skipped) || 0;
  const parts = [];
  if (remaining !== null) {
    parts.push(`${items(remaining)} ${remaining === 1 ? "is" : "are"} not complete yet.`);
  }
  if (skipped) {
    parts.push(`You skipped ${items(skipped)}: skipped items stay to be labeled (unless `
      + "someone else labels them) and are not offered to you again; go back with ← "
      + "to label one.");
  }
  parts.push("Items reserved by other labelers come back if they are abandoned.");
  if (!skipped) parts.push(history);
  return { title: "Nothing left to label for you right now.", text: parts.join(" ") };
}

/**
 * Two decimals, except near 1, where a fresh model puts most of a big pool: "1.00" for
 * 0.996 and 0.9999 alike would tell the labeler nothing. Cut, not rounded, there: only
 * a score of 1 shows as 1.
 */
function uncertaintyText(value) {
  if (value >= 0.995 && value < 1) return (Math.floor(value * 1000) / 1000).toFixed(3);
  return value.toFixed(2);
}

export class Frame {
  constructor(root, config, handlers) {
    this.config = config;
    this.handlers = handlers;
    this.multi = Boolean(config.multi_label);
    this.root = root;
    root.classList.add("al-app");
    this.build();
  }

  build() {
    const { config, handlers } = this;

    // Header
    this.summary = h("div", { class: "al-summary" });
    this.saveState = h("span", { class: "al-save-state" });
    this.signOut = config.auth && config.auth.can_logout
      ? h("button", { type: "button", class: "al-btn al-btn-quiet", text: "Sign out",
        onclick: () => handlers.signOut() })
      : null;
    const user = config.user || {};
    this.header = h("header", { class: "al-top" },
      h("div", { class: "al-brand" },
        h("h1", { class: "al-title", text: config.title || "Labeling" }),
        h("span", { class: "al-kind", text: KIND_NAMES[config.kind] || config.kind })),
      this.summary,
      h("div", { class: "al-user" },
        this.saveState,
        h("span", { class: "al-user-name", title: `Role: ${user.role || "?"}` },
          h("span", { class: "al-avatar", "aria-hidden": "true",
            text: (user.name || "?").slice(0, 1).toUpperCase() }),
          h("span", { text: user.name || "" })),
        h("button", { type: "button", class: "al-btn al-btn-quiet", "aria-keyshortcuts": "?",
          onclick: this.clicked(() => this.toggleHelp(), { repeats: true }) },
        "Keys ", kbd("?")),
        this.signOut));

    // Notices: loop warnings and errors
    this.warnings = h("div", { class: "al-warnings", role: "status", hidden: true });
    this.errorText = h("div", { class: "al-error-text" });
    this.errorItem = null; // the item an error on screen speaks of (see showError)
    this.error = h("div", { class: "al-error", role: "alert", hidden: true },
      h("span", { class: "al-error-icon", "aria-hidden": "true", text: "!" }),
      this.errorText,
      h("button", { type: "button", class: "al-btn al-btn-quiet al-error-close",
        "aria-label": "Dismiss the message", text: "×", onclick: () => this.clearError() }));
    this.hint = h("div", { class: "al-hint", role: "status", hidden: true });
    this.live = h("div", { class: "al-visually-hidden", "aria-live": "polite" });

    // Item area
    this.position = h("div", { class: "al-position" });
    this.badges = h("div", { class: "al-badges" });
    this.contextBody = h("div", { class: "al-context-body" });
    this.context = h("details", { class: "al-context", hidden: true },
      h("summary", null, h("span", { text: "Context" }), " ", kbd("X")),
      this.contextBody);
    // Focusable: a long item scrolls in this box, with ↑ ↓ PgUp PgDn once it has focus.
    this.itemBox = h("div", { class: "al-item-body", tabindex: "0",
      "aria-label": "Item content" });
    this.card = h("section", { class: "al-card al-item", "aria-label": "Item",
      tabindex: "-1" },
    h("div", { class: "al-item-head" }, this.position, this.badges),
    this.context,
    this.itemBox);

    // Classes
    this.classButtons = config.categories.map((cat, index) => {
      const key = classKey(index);
      return h("button", {
        type: "button",
        class: "al-class",
        dataset: { class: cat.name, index: String(index) },
        "aria-pressed": "false",
        "aria-keyshortcuts": key || null,
        title: cat.description || null,
        onclick: this.clicked(() => handlers.classClicked(index)),
      },
      key ? kbd(key) : h("span", { class: "al-kbd-none", "aria-hidden": "true" }),
      h("span", { class: "al-class-text" },
        h("span", { class: "al-class-name", text: cat.name }),
        cat.description ? h("span", { class: "al-class-desc", text: cat.description }) : null),
      h("span", { class: "al-suggested-tag", text: "suggested" }));
    });
    // Past 10 classes the digit keys run out: "/" finds a class by its name.
    this.classFilter = config.categories.length > 10 ? h("input", {
      type: "search", class: "al-class-filter", "aria-keyshortcuts": "/",
      "aria-label": "Find a class by its name",
      placeholder: "Find a class: type part of its name, Enter chooses the first",
      oninput: () => this.filterClasses(),
      onkeydown: (event) => this.classFilterKey(event, handlers),
    }) : null;
    this.classes = h("div", {
      class: `al-classes${this.multi ? " al-multi" : ""}`,
      role: "group",
      "aria-label": this.multi ? "Classes (several allowed)" : "Classes",
    }, this.classButtons);

    // Comment
    this.comment = h("textarea", {
      id: "al-comment", class: "al-comment-input", rows: "2", maxlength: "10000",
      placeholder: "Optional note for this item…", "aria-keyshortcuts": "C",
    });
    this.comment.addEventListener("input", () => handlers.commentChanged(this.comment.value));
    this.commentBox = config.comments === false ? null : h("div", { class: "al-comment" },
      h("label", { for: "al-comment" }, "Comment ", kbd("C"),
        h("span", { class: "al-muted", text: " · Esc to leave, Ctrl+Enter to save" })),
      this.comment);

    // Actions
    this.backBtn = h("button", { type: "button", class: "al-btn", "aria-keyshortcuts": "ArrowLeft",
      onclick: this.clicked(() => handlers.back(), { repeats: true }) }, kbd("←"), " Back");
    this.skipBtn = h("button", { type: "button", class: "al-btn", "aria-keyshortcuts": "S",
      onclick: this.clicked(() => handlers.skip()) }, "Skip ", kbd("S"));
    this.submitLabel = h("span", { text: "Save" });
    this.submitBtn = h("button", { type: "button", class: "al-btn al-btn-primary",
      "aria-keyshortcuts": "Enter", onclick: this.clicked(() => handlers.submit()) },
    this.submitLabel, " ", kbd("Enter"));
    this.forwardBtn = h("button", { type: "button", class: "al-btn",
      "aria-keyshortcuts": "ArrowRight",
      onclick: this.clicked(() => handlers.forward(), { repeats: true }) },
    "Forward ", kbd("→"));
    this.actions = h("div", { class: "al-actions" },
      this.backBtn, h("div", { class: "al-actions-main" }, this.skipBtn, this.submitBtn),
      this.forwardBtn);

    const work = h("main", { class: "al-work" },
      this.card,
      h("section", { class: "al-card al-answer", "aria-label": "Your answer" },
        h("h2", { class: "al-subhead" },
          this.multi ? "Classes · select all that apply, then save" : "Class"),
        this.classFilter,
        this.classes,
        this.commentBox,
        this.actions));

    // Side panel
    const progressPanel = h("div", { class: "al-progress" });
    this.model = h("p", { class: "al-model", hidden: true });
    this.progress = new Progress(config, this.summary, progressPanel,
      { onUpdate: () => this.redrawDone() });
    this.instructions = null;
    if ((config.instructions || "").trim()) {
      this.instructions = h("details", { class: "al-card al-instructions", open: true },
        h("summary", null, h("span", { text: "Instructions" }), " ", kbd("I")),
        h("div", { class: "al-markdown" }, renderMarkdown(config.instructions)));
    }
    const side = h("aside", { class: "al-side", "aria-label": "Progress and instructions" },
      h("section", { class: "al-card", "aria-labelledby": "al-progress-title" },
        h("h2", { class: "al-subhead", id: "al-progress-title", text: "Progress" }),
        progressPanel,
        this.model),
      this.instructions,
      h("section", { class: "al-card al-keys-card", "aria-label": "Keyboard shortcuts" },
        h("h2", { class: "al-subhead", text: "Keyboard" }),
        this.keyList(true)));

    // Help dialog
    this.help = h("dialog", { class: "al-dialog", "aria-labelledby": "al-help-title",
      // "?" opened it and the help lists "?" for it: it closes it too (handled here, so
      // that the page's own key handler does not open it again).
      onkeydown: (event) => {
        if (event.key !== "?") return;
        event.preventDefault();
        this.help.close();
      } },
      h("h2", { id: "al-help-title", text: "Keyboard shortcuts" }),
      this.keyList(false),
      h("form", { method: "dialog", class: "al-dialog-actions" },
        h("button", { class: "al-btn al-btn-primary", text: "Close" })));

    this.notices = h("div", { class: "al-notices" }, this.warnings, this.error, this.hint);
    replaceChildren(this.root,
      this.header,
      this.notices,
      h("div", { class: "al-layout" }, work, side),
      this.help,
      this.live);
    this.setWarnings(config.warnings || []);
    this.setRetraining(config.retraining);
  }

  /**
   * The model that ranks the queue, when the server retrains one every so many labels
   * (`retraining`: `{every, session, at, n_labels}`, session null before the first):
   * without it, uncertainty badges just start showing, and the order changes unexplained.
   */
  setRetraining(retraining) {
    this.model.hidden = !retraining;
    if (!retraining) return;
    const every = `every ${fmt(retraining.every)} new labels`;
    if (retraining.session == null) {
      this.model.textContent = `The model trains after ${every} and ranks the queue.`;
      return;
    }
    // Stores retrained by earlier versions did not record when.
    const at = retraining.at ? new Date(retraining.at) : null;
    const when = !at || Number.isNaN(at.getTime()) ? ""
      : ` at ${at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
    this.model.textContent = `Model #${retraining.session} trained on `
      + `${fmt(retraining.n_labels ?? 0)} labels${when}; it retrains after ${every} and `
      + "ranks the queue again.";
  }

  keyList(compact) {
    const rows = keyHelp({
      multiLabel: this.multi,
      comments: this.config.comments !== false,
      classCount: this.config.categories.length,
      context: (this.config.context_columns || []).length > 0,
      instructions: Boolean(this.instructions),
    });
    return h("dl", { class: compact ? "al-keys al-keys-compact" : "al-keys" },
      rows.map(([keys, text]) =>
        h("div", null,
          h("dt", null, keys.map((k) => (k === "…" ? " – " : kbd(k)))),
          h("dd", { text })),
      ));
  }

  // -- notices ----------------------------------------------------------------------
  setWarnings(list) {
    const texts = list.map(String);
    // Redrawn only when they change: a status region re-announces what it redraws.
    const key = JSON.stringify(texts);
    if (key === this.warningsKey) return;
    this.warningsKey = key;
    // Dismissed until they say something else: they stay true, but need not take the
    // screen. Each retraining restates the stopping warning with its own figures (its
    // AUC, and all after "Details:"): not something else. Other warnings: word for word.
    const gist = JSON.stringify(texts.map((text) => {
      const details = text.indexOf("Details:");
      if (details < 0) return text;
      return text.slice(0, details).replace(/\bAUC [\d.]+/g, "AUC #");
    }));
    this.warnings.hidden = !texts.length || gist === this.dismissedWarnings;
    // Figures unfolded stay so while the warnings say the same thing.
    const opened = gist === this.warningsGist
      ? [...this.warnings.querySelectorAll("li")].map((li) => {
        const details = li.querySelector("details");
        return Boolean(details && details.open);
      })
      : [];
    this.warningsGist = gist;
    replaceChildren(this.warnings,
      h("button", { type: "button", class: "al-btn al-btn-quiet al-warnings-close",
        "aria-label": "Hide these warnings", text: "×",
        onclick: () => {
          this.warnings.hidden = true;
          this.dismissedWarnings = gist;
          this.focusWork();
        } }),
      h("strong", { text: "Heads-up" }),
      h("ul", null, texts.map((text, i) => h("li", null, ...warningParts(text, opened[i])))));
  }

  /**
   * An error, shown until dismissed. `itemId`: it speaks of that item ("this item", "press
   * Enter to save it again"), so it goes when another item (or none) comes on screen,
   * where it would name the wrong one; coming back, the item's draft hint says it again.
   */
  showError(message, advice, { itemId = null } = {}) {
    replaceChildren(this.errorText, h("strong", { text: message }),
      advice ? h("span", { text: ` ${advice}` }) : null);
    this.error.hidden = false;
    this.errorItem = itemId === null ? null : String(itemId);
  }

  clearError() {
    this.error.hidden = true;
    this.errorText.replaceChildren();
    this.errorItem = null;
  }

  /** `itemId` (none: no item) comes on screen: an error about another item goes. */
  clearOtherItemError(itemId) {
    if (this.errorItem != null && this.errorItem !== itemId) this.clearError();
  }

  /**
   * A short-lived hint (e.g. "choose a class first"), shown for `ms`; `sticky`: until
   * clearHint(). `forItem`: it speaks of the item on screen ("choose a class", "nothing
   * in your history yet"), so it goes when another item (or none) comes on screen, where
   * it would be false. Other hints outlive the move: they speak of the item just left
   * (its change kept, its label kept from another tab), of a save, or of the project.
   */
  showHint(text, { sticky = false, ms = 4000, forItem = false } = {}) {
    this.hint.textContent = text;
    this.hint.hidden = false;
    this.hintForItem = forItem;
    clearTimeout(this.hintTimer);
    if (!sticky) this.hintTimer = setTimeout(() => this.clearHint(), ms);
  }

  clearHint() {
    clearTimeout(this.hintTimer);
    this.hint.hidden = true;
    this.hintForItem = false;
  }

  /** Another item, or none, is on screen: a hint about the one before is no longer true. */
  clearItemHint() {
    if (this.hintForItem) this.clearHint();
  }

  announce(text) {
    this.live.textContent = text;
  }

  setSaving(state) {
    const texts = {
      saving: "Saving…",
      waiting: "Saving… your next choice waits for it",
      saved: "All saved",
      failed: "Not saved",
      unconfirmed: "Not confirmed",
    };
    this.saveState.textContent = texts[state] || "";
    this.saveState.dataset.state = state || "";
  }

  // -- panels -----------------------------------------------------------------------
  modalOpen() {
    return Boolean(this.root.querySelector("dialog[open]"));
  }

  toggleHelp() {
    if (this.help.open) this.help.close();
    else this.help.showModal();
  }

  toggleInstructions() {
    if (!this.instructions) {
      this.showHint("This project has no instructions");
      return;
    }
    this.instructions.open = !this.instructions.open;
    if (this.instructions.open) this.instructions.scrollIntoView({ block: "nearest" });
  }

  toggleContext() {
    if (this.context.hidden) {
      this.showHint("This project has no context columns");
      return;
    }
    this.context.open = !this.context.open;
  }

  focusComment() {
    if (!this.commentBox) return;
    this.comment.focus();
  }

  /**
   * A button's click handler. After a mouse click, focus goes to the item card, so that
   * Enter saves the next item rather than pressing this button again (a keyboard
   * activation, detail 0, keeps the focus). Unless the button `repeats` (Back, Forward:
   * they change no label), the second click of a double-click (detail 2) is ignored: it
   * would land on the next item, which the user has not seen.
   */
  clicked(action, { repeats = false } = {}) {
    return (event) => {
      if (event.detail > 1 && !repeats) return;
      if (event.detail > 0) this.focusWork();
      action();
    };
  }

  /**
   * Scroll the item's box as a reading key asks ({unit, dir}, see keys.scrollFor);
   * false when the box has nothing more that way (the page scrolls instead).
   */
  scrollItem({ unit, dir }) {
    const box = this.itemBox;
    const room = dir > 0 ? box.scrollHeight - box.clientHeight - box.scrollTop : box.scrollTop;
    if (room < 1) return false;
    const step = unit === "line" ? 40 : unit === "page" ? box.clientHeight * 0.9 : room;
    box.scrollBy({ top: dir * Math.min(step, room) });
    return true;
  }

  /** Where focus goes when leaving the comment box: the item card. */
  focusWork() {
    this.card.focus({ preventScroll: true });
  }

  /** Focus the class finder; false when the project has none (10 classes or fewer). */
  focusClassFilter() {
    if (!this.classFilter) return false;
    this.classFilter.focus();
    return true;
  }

  /** Show only the classes whose name holds what the finder holds. */
  filterClasses() {
    const wanted = this.classFilter.value.trim().toLowerCase();
    let shown = 0;
    for (const btn of this.classButtons) {
      btn.hidden = Boolean(wanted) && !btn.dataset.class.toLowerCase().includes(wanted);
      if (!btn.hidden) shown += 1;
    }
    if (wanted) this.announce(shown === 1 ? "1 class" : `${shown} classes`);
  }

  classFilterKey(event, handlers) {
    // The Enter that ends an input method's word (Safari says so by keyCode 229 only).
    if (event.isComposing || event.keyCode === 229) return;
    if (event.key === "Escape") {
      this.clearClassFilter(); // the page's key handler then leaves the box
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      const first = this.classButtons.find((btn) => !btn.hidden);
      if (!first) {
        this.showHint("No class holds that name");
        return;
      }
      this.clearClassFilter();
      this.focusWork();
      handlers.classClicked(Number(first.dataset.index));
    }
  }

  clearClassFilter() {
    this.classFilter.value = "";
    this.filterClasses();
  }

  // -- item states --------------------------------------------------------------------
  setBusy(busy) {
    for (const btn of [...this.classButtons, this.skipBtn, this.submitBtn]) btn.disabled = busy;
    this.comment.disabled = busy;
  }

  showLoading() {
    this.clearItemHint();
    this.card.dataset.itemId = "";
    this.card.dataset.mode = "loading";
    replaceChildren(this.position, h("span", { class: "al-chip", text: "Loading…" }));
    this.badges.replaceChildren();
    this.context.hidden = true;
    replaceChildren(this.itemBox, h("div", { class: "al-skeleton", "aria-busy": "true" },
      h("span"), h("span"), h("span")));
    this.setBusy(true);
    this.forwardBtn.disabled = true;
  }

  /**
   * No item to show. Without `title` and `text`, says what is left from the latest
   * progress figures, and keeps saying it as they change (a save answered after this).
   */
  showDone(onRetry, { title, text, button = "Check again", chip = "All done" } = {}) {
    this.clearItemHint();
    this.clearOtherItemError(null);
    this.card.dataset.itemId = "";
    this.card.dataset.mode = "done";
    replaceChildren(this.position, h("span", { class: "al-chip al-chip-done", text: chip }));
    this.badges.replaceChildren();
    this.context.hidden = true;
    this.doneTitle = h("p", { class: "al-done-title" });
    this.doneText = h("p", { class: "al-muted" });
    this.doneFixed = title !== undefined ? { title, text: text || "" } : null;
    this.redrawDone();
    replaceChildren(this.itemBox, h("div", { class: "al-done" },
      this.doneTitle,
      this.doneText,
      h("button", { type: "button", class: "al-btn", text: button, onclick: onRetry })));
    // No item: no choice, suggestion or comment left from the last one.
    this.updateChoice({ selection: new Set(), suggestion: [], mode: "done" });
    this.comment.value = "";
    this.setBusy(true);
    this.forwardBtn.disabled = true;
  }

  redrawDone() {
    if (this.card.dataset.mode !== "done" || !this.doneTitle) return;
    const { title, text } = this.doneFixed || doneMessage(this.progress.stats);
    this.doneTitle.textContent = title;
    this.doneText.textContent = text;
  }

  /**
   * Show an item. `view`: {item, mode: "new"|"past", index, selection: Set, suggestion:
   * [classes], comment, unsaved}. `render` is the kind's renderer.
   */
  showItem(view, render) {
    const { item, mode } = view;
    const { config } = this;
    const another = this.card.dataset.itemId !== String(item.id);
    // The same item, now from the history (or back in the queue), is another screen too.
    if (another || this.card.dataset.mode !== mode) this.clearItemHint();
    // A search left in the class finder (left by Tab or the mouse) ends with its item.
    if (another && this.classFilter && this.classFilter.value) this.clearClassFilter();
    this.clearOtherItemError(String(item.id));
    this.card.dataset.itemId = item.id;
    this.card.dataset.mode = mode;
    this.setBusy(false);
    this.forwardBtn.disabled = mode !== "past";

    // Where we are
    const chips = [];
    if (mode === "past") {
      const ann = item.annotation || {};
      chips.push(h("span", { class: "al-chip al-chip-past",
        text: view.index === 0 ? "Your last item" : `Your history · ${view.index + 1} back` }));
      if (ann.status === "SKIPPED") chips.push(h("span", { class: "al-chip", text: "Skipped" }));
      else chips.push(h("span", { class: "al-chip al-chip-label" }, "Labeled: ",
        h("strong", { text: labelText(ann.label) })));
      if (item.notice) { // a save from this page was refused: this annotation was kept
        chips.push(h("span", { class: "al-chip al-chip-kept", title: item.notice,
          text: "Kept from another tab or window" }));
      }
    } else {
      chips.push(h("span", { class: "al-chip al-chip-new", text: "New item" }));
    }
    if (view.unsaved) {
      chips.push(h("span", { class: "al-chip al-chip-unsaved",
        title: "A choice made on this item was not saved: save it again",
        text: "Not saved yet" }));
    }
    chips.push(h("span", { class: "al-item-id", title: "Item id" }, "id ",
      h("code", { text: item.id })));
    replaceChildren(this.position, chips);

    // Badges: uncertainty and pre-annotation. The server sends the model's own score,
    // null when there is none (no queries, a random draw): then no badge.
    const badges = [];
    if (typeof item.uncertainty === "number") {
      badges.push(h("span", {
        class: "al-badge al-badge-uncertainty",
        title: "How unsure the model is about this item (0 – 1). The queue mostly asks the "
          + "most unsure first, but while the model has learned from few labels it also "
          + "asks items typical of the whole table, and some strategies spread a batch out",
      }, "Uncertainty ", h("strong", { text: uncertaintyText(item.uncertainty) })));
    }
    if (item.pre_annotation !== null && item.pre_annotation !== undefined
        && item.pre_annotation !== "") {
      const known = view.suggestion.length > 0;
      badges.push(h("span", {
        class: `al-badge al-badge-suggestion${known ? "" : " al-badge-unknown"}`,
        title: known
          ? "From the existing labels: press Enter to accept it or choose another class"
          : "The existing label is not one of the classes",
      }, known ? "Suggested: " : "Existing label (not a class): ",
      h("strong", { text: labelText(item.pre_annotation) })));
    }
    replaceChildren(this.badges, badges);

    // Context columns, folded; their open state carries over from item to item
    const contextCols = config.context_columns || [];
    this.context.hidden = contextCols.length === 0;
    if (contextCols.length) {
      replaceChildren(this.contextBody,
        valueTable(item.data || {}, contextCols, { caption: "Context" }));
    }

    render(item, config, this.itemBox);
    this.updateChoice(view);
    if (this.commentBox) this.comment.value = view.comment || "";
    if (another) this.reveal();
  }

  /**
   * Another item is on screen: show it from its top. The page may have been scrolled
   * down to the classes (a phone) or with PgDn, and a key typed in the comment box would
   * now go into this item's comment: focus goes back to the card.
   */
  reveal() {
    this.itemBox.scrollTop = 0;
    if (document.activeElement === this.comment) this.focusWork();
    const cover = this.header.getBoundingClientRect().bottom; // the sticky header
    const top = this.card.getBoundingClientRect().top;
    if (top >= cover && top + 40 <= window.innerHeight) return;
    // The notices (an error about this item, a hint) sit just above it: show them too.
    window.scrollBy({ top: this.notices.getBoundingClientRect().top - cover,
      behavior: "instant" });
  }

  /** Reflect the selection, suggestion and submit button of the view. */
  updateChoice(view) {
    const selected = view.selection;
    const suggested = new Set(view.suggestion);
    for (const btn of this.classButtons) {
      const name = btn.dataset.class;
      btn.setAttribute("aria-pressed", selected.has(name) ? "true" : "false");
      btn.classList.toggle("al-suggested", suggested.has(name));
    }
    let label = "Save";
    let enabled = true;
    if (keepsSkip(view)) {
      label = "Keep skip";
    } else if (this.multi) {
      enabled = selected.size > 0;
      label = view.mode === "past" ? "Save changes" : "Save";
    } else if (selected.size) {
      label = view.mode === "past" ? "Keep" : "Save";
    } else if (view.suggestion.length) {
      label = "Accept suggestion";
    } else {
      enabled = false;
    }
    this.submitLabel.textContent = label;
    this.submitBtn.disabled = !enabled;
  }
}

/**
 * Whether submitting the view keeps a skip: a past item skipped, no class chosen on it.
 * Enter on a past item keeps what it holds, as it keeps a label; taking the suggestion
 * instead would turn skips into labels for a labeler paging through the history.
 */
export function keepsSkip(view) {
  const ann = view.item && view.item.annotation;
  return view.mode === "past" && !view.selection.size && Boolean(ann)
    && ann.status === "SKIPPED";
}

/** A label (class or list of classes) as text. */
export function labelText(label) {
  if (Array.isArray(label)) return label.length ? label.join(", ") : "(none)";
  if (label === null || label === undefined) return "(none)";
  return String(label);
}

