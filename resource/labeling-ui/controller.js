// The labeling controller: the queue of new items (prefetched), the user's history
// (back / forward, editing), saving with no lost label, and the keyboard.
//
// Saves are optimistic but never silent: the next item shows at once while the save
// runs; one save is in flight at a time, and any further action waits for it. A choice
// made meanwhile shows at once, says that it waits, and is sent when the save is done
// (the last choice on an item counts). If a save fails, its item comes back on screen
// with the choice still selected and the error is shown; the item that had replaced it
// goes back to the front of the queue, and its waiting choice, if any, is shown again as
// not saved yet.

import { api } from "./api.js";
import { classKeys, keepsSkip, labelText } from "./frame.js";
import { actionFor, scrollFor } from "./keys.js";
import { tabChannel } from "./tabs.js";

const PREFETCH = 3; // new items kept ready beyond the one on screen
const HISTORY_PAGE = 20;
const MAX_NEXT = 50;

/** A label (class, list of classes, null) as a list of class names. */
export function asList(label) {
  if (Array.isArray(label)) return label.map(String);
  if (label === null || label === undefined || label === "") return [];
  return [String(label)];
}

function sameLabel(a, b) {
  const x = asList(a).sort();
  const y = asList(b).sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A server message as one sentence ending with a single full stop. */
function sentence(message) {
  return `${String(message || "Unknown error").trim().replace(/[.!]+$/, "")}.`;
}

/**
 * A failed save that the server may have stored all the same: no answer (a timeout, the
 * network), a gateway's error page, or an answer that is not the server's JSON. Only an
 * error the server itself sent (its JSON, or a 4xx) says it stored nothing.
 */
function mayBeStored(err) {
  const code = String(err.code || "");
  return code === "timeout" || code === "network" || code === "bad_response"
    || /^http_5/.test(code);
}

function isTextField(el) {
  return el instanceof Element
    && Boolean(el.closest("textarea, input, select, [contenteditable]:not([contenteditable=false])"));
}

export class Controller {
  /**
   * `onUnauthenticated(err)`: the sign-in session ended, or another tab's replaced
   * it. `onNewSession()`: an answer of the server names a model session other than this
   * page's (a retraining), or other warnings (a failed retraining): the configuration
   * is to be read again, which calls configRead(). `describe(item, config)`: a line
   * saying what an item is, announced after each save with the item that follows.
   */
  constructor(frame, config, render, { describe, onUnauthenticated, onNewSession } = {}) {
    this.frame = frame;
    this.config = config;
    this.render = render;
    this.describe = describe || null; // (item, config) => a line read out for the item
    this.onUnauthenticated = onUnauthenticated || (() => {});
    this.onNewSession = onNewSession || (() => {});
    this.multi = Boolean(config.multi_label);
    this.names = config.categories.map((c) => c.name);

    this.queue = []; // prefetched new items, reserved for this user
    this.head = null; // the view of the current new item
    this.view = null; // what is on screen: the head or a past item (null: loading/done)
    this.waiting = false; // true while the screen waits for a new item
    this.exhausted = false; // the server had no new item for us at the last refill
    this.loadError = null;
    this.refilling = null;
    this.releasing = null; // items fetched ahead being given back (see sessionChanged)
    this.session = config.session; // the model's retraining session the queue is from
    this.warningsTag = config.warnings_tag; // a tag of the warnings to notice at once
    this.savesAnswered = 0; // saves whose answer (and its figures) came back
    this.generation = 0; // grows when the queue is dropped: an answer of before is stale

    this.past = []; // the user's history, newest first (a prefix of it)
    this.pastComplete = false;
    this.pastLoading = null;

    this.doneIds = new Set(); // items saved from this page
    this.doneElsewhere = new Set(); // items another tab of this user saved (see tabs.js)
    this.askedAgain = 0; // refills in a row that brought only such items
    this.tabs = tabChannel(config.user && config.user.name);
    this.tabs.onDone((id) => this.savedElsewhere(id));
    this.drafts = new Map(); // item id -> {kind, label, comment} chosen, not saved yet
    // Items whose last save got no answer (a timeout, the network): it may yet reach the
    // server, so choosing the stored annotation again is sent, not taken as unchanged.
    this.unsure = new Set();
    this.edits = new Map(); // item id -> {selection, comment} changed on a past item, left
    this.inflight = null; // promise of the save in flight
    this.sending = null; // its entry

    this.onKey = this.onKey.bind(this);
    this.onBeforeUnload = this.onBeforeUnload.bind(this);
    this.pointed = null; // where the last click landed (see pointedScroller)
    this.previousShown = null; // the view shown last: a new one resets `pointed`
    this.onPointer = (event) => {
      this.pointed = event.target;
    };
    document.addEventListener("keydown", this.onKey);
    document.addEventListener("pointerdown", this.onPointer);
    window.addEventListener("beforeunload", this.onBeforeUnload);
  }

  async start() {
    this.frame.progress.update(this.config.stats);
    this.waiting = true;
    this.frame.showLoading();
    await this.refill();
    this.loadPast({ quiet: true });
  }

  destroy() {
    this.tabs.close();
    document.removeEventListener("keydown", this.onKey);
    document.removeEventListener("pointerdown", this.onPointer);
    window.removeEventListener("beforeunload", this.onBeforeUnload);
  }

  // -- views ------------------------------------------------------------------------
  makeView(item, mode, index = -1) {
    const draft = this.drafts.get(item.id);
    let suggestion = asList(item.pre_annotation).filter((n) => this.names.includes(n));
    if (!this.multi) suggestion = suggestion.slice(0, 1);
    const ann = item.annotation;
    let selection = new Set(this.storedLabel({ item, mode }));
    if (draft && draft.kind === "label") selection = new Set(asList(draft.label));
    else if (this.multi && mode === "new") selection = new Set(suggestion);
    let comment = draft ? draft.comment : (mode === "past" && ann && ann.comment) || "";
    const edit = this.edits.get(item.id); // left after the draft, if both: newer
    if (edit) {
      selection = new Set(edit.selection);
      comment = edit.comment;
    }
    // `unsaved`: a choice made on this item earlier was never saved (shown as such).
    return { item, mode, index, selection, suggestion, comment, activeMs: 0, shownAt: 0,
      unsaved: Boolean(draft), waiting: false };
  }

  /** The classes of the label stored for the view's item (none if it is not labeled). */
  storedLabel(view) {
    const ann = view.item.annotation;
    return view.mode === "past" && ann && ann.status === "LABELED" ? asList(ann.label) : [];
  }

  /** The view has a comment or (multi-label) classes changed and not saved. */
  changedOnScreen(view) {
    if (!view) return false;
    const ann = (view.mode === "past" && view.item.annotation) || {};
    if ((view.comment || "") !== (ann.comment || "")) return true;
    if (!this.multi) return false;
    const start = view.mode === "past"
      ? (ann.status === "LABELED" ? asList(ann.label) : [])
      : view.suggestion;
    return !sameLabel([...view.selection], start);
  }

  leaveView() {
    const v = this.view;
    if (v && v.shownAt) v.activeMs += performance.now() - v.shownAt;
  }

  show(view, { failed = false } = {}) {
    if (this.view !== view) this.leaveView();
    this.view = view;
    if (view !== this.previousShown) this.pointed = null; // a new item: keys are its own
    this.previousShown = view;
    this.tabs.showing(view.mode === "new" ? view.item.id : null);
    this.waiting = false;
    view.shownAt = performance.now();
    this.frame.showItem(view, this.render);
    const draft = this.drafts.get(view.item.id);
    if (draft && !failed) { // a failure says so itself
      this.frame.showHint(draft.kind === "skip"
        ? "Your skip of this item is not saved yet: press S to skip it"
        : `Your label “${labelText(draft.label)}” for this item is not saved yet: `
          + "press Enter to save it", { forItem: true });
    }
  }

  /** Show the current new item, taking one from the queue (or waiting for one). */
  showHead() {
    if (!this.head && this.queue.length) this.head = this.makeView(this.queue.shift(), "new");
    if (this.head) {
      this.show(this.head);
      this.refillIfLow();
      return;
    }
    this.leaveView();
    this.view = null;
    this.tabs.showing(null);
    if (this.loadError) {
      this.waiting = false;
      this.frame.showDone(() => this.checkAgain(), {
        title: "The next items could not be loaded.",
        text: this.loadError.message,
        button: "Try again",
        chip: "Not loaded",
      });
    } else if (this.exhausted) {
      this.waiting = false;
      this.frame.showDone(() => this.checkAgain());
      // What is left may have changed since the last save's figures (other labelers
      // finished, or hold items still): the done screen says it from fresh ones.
      this.refreshStats();
    } else {
      this.waiting = true;
      this.frame.showLoading();
      this.refill();
    }
  }

  /**
   * Leaving a past item: keep a change not saved yet (classes ticked in multi-label
   * mode, a comment), shown again on coming back, and say so.
   */
  keepEdits(view) {
    if (!view || view.mode !== "past") return;
    const ann = view.item.annotation || {};
    const saved = ann.status === "LABELED" ? asList(ann.label) : [];
    const changed = (view.comment || "") !== (ann.comment || "")
      || (this.multi && !sameLabel([...view.selection], saved));
    if (!changed) {
      this.edits.delete(view.item.id);
      return;
    }
    this.edits.set(view.item.id, { selection: [...view.selection], comment: view.comment || "" });
    this.frame.showHint("Your change to that item is not saved yet: it is kept and shown "
      + "again when you return to it, to save there");
  }

  showPast(index) {
    this.show(this.makeView(this.past[index], "past", index));
    if (index + 5 >= this.past.length && !this.pastComplete) this.loadPast({ quiet: true });
  }

  checkAgain() {
    this.exhausted = false;
    this.loadError = null;
    this.showHead();
  }

  // -- the queue of new items -------------------------------------------------------
  knownIds() {
    const ids = new Set(this.queue.map((item) => item.id));
    if (this.head) ids.add(this.head.item.id);
    if (this.sending) ids.add(this.sending.view.item.id);
    return ids;
  }

  refillIfLow() {
    if (this.queue.length < PREFETCH && !this.exhausted && !this.loadError) this.refill();
  }

  /**
   * Top the queue up to PREFETCH items. /api/next returns the user's reserved items
   * first, so ask for those we hold plus the ones we want, and keep the new ones.
   */
  refill() {
    if (this.refilling) return this.refilling;
    const want = Math.max(1, PREFETCH - this.queue.length);
    const count = Math.min(MAX_NEXT, this.knownIds().size + want);
    const generation = this.generation;
    this.refilling = (async () => {
      let stale = false;
      try {
        if (this.releasing) await this.releasing;
        const answer = await api.next(count);
        const { items } = answer;
        this.noticeState(answer);
        // Scored by the model of before the queue was dropped: asked for again below.
        stale = generation !== this.generation;
        const known = this.knownIds();
        let fresh = 0;
        let savedElsewhere = 0;
        for (const item of stale ? [] : items || []) {
          if (this.doneElsewhere.has(item.id)) savedElsewhere += 1;
          if (known.has(item.id) || this.doneIds.has(item.id)
              || this.doneElsewhere.has(item.id)) continue;
          known.add(item.id);
          this.queue.push(item);
          fresh += 1;
        }
        // Items another tab saved meanwhile say nothing of what is left: ask again
        // (a few times: the server leaves out what this user saved).
        if (!stale && !fresh && savedElsewhere && this.askedAgain < 3) {
          this.askedAgain += 1;
          stale = true;
        } else if (!stale) {
          this.askedAgain = 0;
        }
        if (!stale) this.exhausted = fresh === 0;
        this.loadError = null;
      } catch (err) {
        this.loadError = err;
        if (err.unauthenticated) this.onUnauthenticated(err);
      } finally {
        this.refilling = null;
      }
      if (stale) this.refill();
      else if (this.waiting) this.showHead();
    })();
    return this.refilling;
  }

  /**
   * The session and warnings tag named by the answer to a request of the labeling
   * itself: the page asks for items and saves often, so a retraining (a new session) or
   * a failed one (a new tag: the session stays) is noticed within a label or two, not at
   * the next periodic read of the configuration (the warnings could be gone by then).
   */
  noticeState({ session, warnings_tag: tag } = {}) {
    const newSession = session !== undefined && session !== null && session !== this.session;
    const newTag = tag !== undefined && tag !== null && tag !== this.warningsTag;
    if (newTag) this.warningsTag = tag; // one read of the configuration for it, not one per answer
    if (newSession || newTag) this.onNewSession(session);
  }

  /** The configuration was read again (see sessionChanged). */
  configRead(config) {
    if (config.warnings_tag !== undefined) this.warningsTag = config.warnings_tag;
    this.sessionChanged(config.session);
  }

  /**
   * The project's configuration was read again. A new session means a retrained model:
   * the items fetched ahead and not on screen yet were picked by the old one, so they
   * are given back to the queue (where they take their place in the new ranking) and
   * the new ranking's first items are asked for. Given back or not (a failed request),
   * the next items ever come from the new ranking, the same ones maybe, with new scores.
   */
  sessionChanged(session) {
    if (session === undefined || session === this.session) return;
    this.session = session;
    this.generation += 1;
    // Kept: items with a choice waiting to be saved (a failed save put them back), and
    // left alone: those another tab of this user shows (its user labels them).
    const waiting = (item) => this.drafts.has(item.id) || this.edits.has(item.id);
    const elsewhere = this.tabs.shownElsewhere();
    const given = this.queue.filter((item) => !waiting(item) && !elsewhere.has(item.id))
      .map((item) => item.id);
    this.queue = this.queue.filter(waiting);
    this.exhausted = false;
    if (given.length) {
      // /api/next gives reserved items first: it must not be asked before they go back.
      const releasing = api
        .release(given)
        .catch(() => {})
        .finally(() => {
          if (this.releasing === releasing) this.releasing = null;
        });
      this.releasing = releasing;
    }
    if (!this.loadError) this.refill();
  }

  // -- history ----------------------------------------------------------------------
  /** Load the next (older) page of history; false if it failed. */
  loadPast({ quiet = false } = {}) {
    if (!this.pastLoading) {
      this.pastLoading = (async () => {
        const last = this.past[this.past.length - 1];
        try {
          const { items } = await api.history({
            before: last ? last.annotation.id : undefined,
            limit: HISTORY_PAGE,
          });
          const have = new Set(this.past.map((entry) => entry.id));
          for (const entry of items || []) if (!have.has(entry.id)) this.past.push(entry);
          if ((items || []).length < HISTORY_PAGE) this.pastComplete = true;
          return true;
        } catch (err) {
          if (!quiet) this.reportError(err, "Your history could not be loaded");
          return false;
        } finally {
          this.pastLoading = null;
        }
      })();
    }
    return this.pastLoading;
  }

  /** Make sure past[index] is loaded: true, false (no such item) or null (error). */
  async ensurePast(index) {
    while (index >= this.past.length && !this.pastComplete) {
      if (!(await this.loadPast())) return null;
    }
    return index < this.past.length;
  }

  /** Wait for the save in flight; false if the screen changed meanwhile (a failure). */
  async settle(view) {
    while (this.inflight) await this.inflight;
    return this.view === view;
  }

  /** Before moving: wait for the save in flight, saying so; false if the screen changed. */
  async settleToMove(view) {
    if (!this.inflight) return true;
    this.frame.showHint("Waiting for the previous save to finish…", { sticky: true });
    const still = await this.settle(view);
    this.frame.clearHint();
    return still;
  }

  async back() {
    const view = this.view;
    if (!(await this.settleToMove(view))) return;
    const target = view && view.mode === "past" ? view.index + 1 : 0;
    const found = await this.ensurePast(target);
    if (this.view !== view || found === null) return;
    if (!found) {
      const text = this.past.length
        ? "This is the first item you did" : "Nothing in your history yet";
      this.frame.showHint(text, { forItem: true });
      return;
    }
    this.keepEdits(view);
    this.showPast(target);
  }

  async forward() {
    const view = this.view;
    if (!(await this.settleToMove(view))) return;
    if (!view || view.mode !== "past") {
      this.frame.showHint("You are on your newest item", { forItem: true });
      return;
    }
    this.keepEdits(view);
    if (view.index > 0) this.showPast(view.index - 1);
    else this.showHead();
  }

  /** After a label or skip: the next newer past item, or the next new item. */
  moveOn(view) {
    if (view.mode === "past") {
      if (view.index > 0) this.showPast(view.index - 1);
      else this.showHead();
      return;
    }
    if (this.head === view) this.head = null;
    this.showHead();
  }

  // -- choosing and saving ------------------------------------------------------------
  chooseClass(index) {
    const view = this.view;
    const name = this.names[index];
    if (!view || name === undefined) return;
    if (!this.multi) {
      this.commit("label", name);
      return;
    }
    if (view.selection.has(name)) view.selection.delete(name);
    else view.selection.add(name);
    this.frame.updateChoice(view);
    this.frame.announce(`${name} ${view.selection.has(name) ? "selected" : "unselected"}`);
  }

  submit() {
    const view = this.view;
    if (!view) return;
    if (keepsSkip(view)) {
      this.commit("skip", null); // saved only if its comment changed
      return;
    }
    if (this.multi) {
      if (!view.selection.size) {
        this.askForKey(`Select at least one class (${classKeys(this.names.length)}), or `
          + "skip the item (S)");
        return;
      }
      this.commit("label", this.names.filter((n) => view.selection.has(n)));
      return;
    }
    const label = [...view.selection][0] ?? view.suggestion[0];
    if (label === undefined) {
      this.askForKey(`Choose a class: press 1–${Math.min(9, this.names.length)}`);
      return;
    }
    this.commit("label", label);
  }

  /** A hint asking for a key: out of the comment box first, or the key would type there. */
  askForKey(text) {
    if (isTextField(document.activeElement)) this.frame.focusWork();
    this.frame.showHint(text, { forItem: true });
  }

  skip() {
    if (this.view) this.commit("skip", null);
  }

  setComment(text) {
    if (this.view) this.view.comment = text;
  }

  unchanged(view, kind, label, comment) {
    const ann = view.item.annotation;
    if (!ann || this.unsure.has(view.item.id) || comment !== (ann.comment || "")) return false;
    if (kind === "skip") return ann.status === "SKIPPED";
    return ann.status === "LABELED" && sameLabel(ann.label, label);
  }

  async commit(kind, label) {
    const view = this.view;
    if (!view) return;
    this.edits.delete(view.item.id);
    if (view.mode === "past" && this.unchanged(view, kind, label, view.comment || "")) {
      this.drafts.delete(view.item.id); // what is saved is chosen again: nothing unsaved
      this.moveOn(view);
      return;
    }
    this.drafts.set(view.item.id, { kind, label, comment: view.comment || "" });
    if (this.inflight) {
      if (!(await this.waitToSend(view, kind, label))) return;
      ({ kind, label } = this.drafts.get(view.item.id)); // the last choice made meanwhile
    }
    this.send(view, kind, label);
  }

  /**
   * A choice made while another save is in flight: show it at once, say that it waits,
   * and wait. True when it is to be sent now; false if the screen changed meanwhile (the
   * other save failed: the draft stays, shown again when this item comes back) or if an
   * earlier choice on this item is already waiting (it sends the last choice).
   */
  async waitToSend(view, kind, label) {
    if (kind === "label") view.selection = new Set(asList(label));
    else if (!this.multi) view.selection = new Set();
    this.frame.updateChoice(view);
    this.frame.showHint(kind === "label"
      ? `“${labelText(label)}” is chosen: it waits for the previous save, then is saved`
      : "Skip chosen: it waits for the previous save, then is saved", { sticky: true });
    this.frame.setSaving("waiting");
    if (view.waiting) return false;
    view.waiting = true;
    try {
      return await this.settle(view);
    } finally {
      view.waiting = false;
      this.frame.clearHint();
    }
  }

  send(view, kind, label) {
    const comment = view.comment || "";
    this.drafts.set(view.item.id, { kind, label, comment });
    const duration = Math.round(view.activeMs + performance.now() - view.shownAt);
    // The time sent is counted by the server once it stores this save, even when the
    // answer is lost: a later save of the item sends only the time spent after it.
    view.activeMs = 0;
    view.shownAt = performance.now();
    const payload = { item_id: view.item.id, comment, duration_ms: duration };
    if (kind === "label") payload.label = label;
    // An item from the queue that this page has not saved yet: its first annotation,
    // which must not overwrite one saved meanwhile from another tab or window (the same
    // user's tabs are handed the same reserved items). Edits from the history, and
    // items saved from this page, are sent as edits.
    const first = view.mode === "new" && !this.doneIds.has(view.item.id);
    if (first) payload.new = true;
    const entry = { view, kind, label, comment, payload };
    const request = this.post(entry);
    this.sending = entry;
    this.frame.setSaving("saving");
    this.moveOn(view);
    this.inflight = this.finish(entry, request);
  }

  post({ kind, payload }) {
    return kind === "label" ? api.annotate(payload) : api.skip(payload);
  }

  async finish(entry, request) {
    try {
      let result;
      try {
        result = await request;
      } catch (err) {
        // The server tells this page's own earlier save (its answer lost), which it
        // takes as an edit, from another tab's: only the latter is refused.
        const kept = err.code === "already_annotated" && err.details
          && err.details.annotation;
        if (!kept) throw err;
        this.keptElsewhere(entry, kept);
        return;
      }
      this.saved(entry, result);
    } catch (err) {
      this.failed(entry, err);
    } finally {
      this.inflight = null;
      this.sending = null;
    }
  }

  /**
   * A first save of a new item was refused: the same user had already annotated it in
   * another tab or window. That annotation is kept; the item is done, shown in the
   * history as kept, and the page goes on (it already has).
   */
  keptElsewhere(entry, kept) {
    const notice = kept.status === "SKIPPED"
      ? "Already skipped in another tab or window: kept"
      : `Already labeled as ${labelText(kept.label)} in another tab or window: kept`;
    const id = entry.view.item.id;
    this.stored(entry.view, { ...kept, item_id: id }, notice);
    let yours = entry.kind === "label"
      ? `your “${labelText(entry.label)}” was not saved` : "your skip was not saved";
    if (entry.comment && entry.comment !== (kept.comment || "")) {
      // The comment typed here is not thrown away: it waits, unsaved, on the kept
      // annotation in the history (leaving the page asks first).
      this.edits.set(id, { selection: kept.status === "LABELED" ? asList(kept.label) : [],
        comment: entry.comment });
      yours += "; your comment waits on it in your history, unsaved (← to see it)";
    }
    this.frame.showHint(`${notice} (${yours}).`, { ms: 10000 });
    this.frame.announce(notice);
    this.refreshStats();
  }

  /**
   * Ask for the progress figures. A save answered meanwhile brings figures at least as
   * fresh, and these may have been counted before it: they are then dropped, or a label
   * just saved would look missing.
   */
  refreshStats() {
    const answered = this.savesAnswered;
    api.stats().then((stats) => {
      if (this.savesAnswered === answered) this.frame.progress.update(stats);
    }).catch(() => {});
  }

  saved(entry, result) {
    const { view, kind, label, comment } = entry;
    const item = view.item;
    this.stored(view, {
      ...(item.annotation || {}),
      id: result.id,
      item_id: item.id,
      status: kind === "label" ? "LABELED" : "SKIPPED",
      label: kind === "label" ? label : null,
      label_id: kind === "label" ? result.label_id ?? null : null,
      comment,
    });
    this.savesAnswered += 1;
    if (result.stats) this.frame.progress.update(result.stats);
    this.noticeState(result);
    // The page has moved on already: a screen reader hears what the new item is too.
    const next = this.view && this.view !== view && this.describe
      ? ` Next item: ${this.describe(this.view.item, this.config)}` : "";
    this.frame.announce(
      `${kind === "label" ? `Saved: ${labelText(label)}.` : "Skipped."}${next}`);
  }

  /**
   * Another tab of this user saved the item `id`: it leaves this tab's queue, and the
   * screen too when it is the new item shown with nothing chosen or typed on it yet
   * (else the server's refusal of a second first label says what happened, as before).
   */
  savedElsewhere(id) {
    if (this.doneIds.has(id)) return;
    this.doneElsewhere.add(id);
    this.queue = this.queue.filter((item) => item.id !== id);
    const head = this.head;
    if (!head || head.item.id !== id || this.drafts.has(id) || this.changedOnScreen(head)) {
      this.refillIfLow();
      return;
    }
    this.head = null;
    if (this.view === head) {
      this.showHead();
      this.frame.showHint("That item was just saved in another tab or window: here is "
        + "the next one");
    } else {
      this.refillIfLow();
    }
  }

  /**
   * The item's annotation as the server stores it (`notice`: why it is not the one
   * sent): the item is done, the history shows it, and new items can be asked for.
   */
  stored(view, annotation, notice = undefined) {
    const item = view.item;
    if (view.mode === "new" && !this.doneIds.has(item.id)) this.tabs.announce(item.id);
    this.doneIds.add(item.id);
    this.drafts.delete(item.id);
    this.unsure.delete(item.id);
    const done = { ...item, annotation, notice };
    const at = this.past.findIndex((e) => e.id === item.id);
    if (at >= 0) this.past[at] = done;
    else if (view.mode === "new") this.past.unshift(done);
    // Another item's choice that failed to save is still unsaved.
    this.frame.setSaving(this.drafts.size ? "failed" : "saved");
    this.frame.clearError();
    this.loadError = null; // the server answers again: new items can be asked for
    this.refillIfLow();
  }

  failed(entry, err) {
    const { view, kind, label } = entry;
    const current = this.view;
    if (current && current !== view && this.changedOnScreen(current)) {
      // What was typed or ticked meanwhile on the item on screen is kept for its return.
      this.edits.set(current.item.id,
        { selection: [...current.selection], comment: current.comment || "" });
    }
    if (view.mode === "new") {
      // The new item that replaced it waits at the front of the queue.
      if (current && current !== view && current.mode === "new") {
        this.queue.unshift(current.item);
      }
      this.head = view;
    }
    // The choice that failed is the one on screen. After a skip, no class chosen before
    // it stays selected, or Enter would save it: a past item shows its stored label
    // again (Enter keeps it), a new one none.
    if (kind === "label") view.selection = new Set(asList(label));
    else if (!this.multi) view.selection = new Set(this.storedLabel(view));
    view.comment = entry.comment;
    view.unsaved = true;
    const unsure = mayBeStored(err);
    if (unsure) this.unsure.add(view.item.id);
    else view.activeMs += entry.payload.duration_ms; // refused: its time was not counted
    this.show(view, { failed: true });
    this.frame.setSaving(unsure ? "unconfirmed" : "failed");
    let advice = kind === "label"
      ? "Your choice is still selected: press Enter to save it again."
      : "Press S to skip it again.";
    // No answer: the server may have stored it; saving again is safe (an edit of it).
    if (unsure) advice = `It may have been saved before the answer was lost. ${advice}`;
    if (err.unauthenticated) advice = "Sign in again, then save it.";
    else if (err.status === 403) advice = "Your account may not do this here: ask a project manager.";
    const what = kind === "label"
      ? `the label “${labelText(label)}” of this item` : "the skip of this item";
    this.frame.showError(`${unsure ? "Not confirmed" : "Not saved"}: ${what}. `
      + sentence(err.message), advice, { itemId: view.item.id });
    if (err.unauthenticated) this.onUnauthenticated(err);
  }

  /** The session was renewed in the sign-in dialog: the "sign in first" error is past. */
  signedInAgain() {
    this.frame.clearError();
    const draft = this.view && this.drafts.get(this.view.item.id);
    if (draft) {
      this.frame.showHint(draft.kind === "skip"
        ? "Signed in: press S to skip this item" : "Signed in: press Enter to save this item",
        { forItem: true });
    }
  }

  reportError(err, context) {
    this.frame.showError(`${context}: ${sentence(err.message)}`);
    if (err.unauthenticated) this.onUnauthenticated(err);
  }

  // -- keyboard -----------------------------------------------------------------------
  onKey(event) {
    if (event.defaultPrevented || event.isComposing) return;
    if (this.frame.modalOpen()) return; // dialogs handle their own keys (Esc closes)
    const target = event.target;
    if (isTextField(target)) {
      if (event.key === "Escape") {
        event.preventDefault();
        target.blur();
        this.frame.focusWork();
      } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)
          && target === this.frame.comment) {
        event.preventDefault();
        this.submit();
      }
      return;
    }
    if ((event.key === "Enter" || event.key === " ") && target instanceof Element
        && target.closest("button, a[href], summary, [role=button]")) {
      return; // the focused control's own activation
    }
    if (event.key === "Escape") {
      this.frame.clearError();
      return;
    }
    // A long item scrolls in its own box: the reading keys scroll it first, the page
    // once it is at its end (focus is on the card after each save, not in the box).
    // Only with focus on the page or the card: other scrollers (the instructions, the
    // item's box itself) and controls keep their own keys.
    const scroll = scrollFor(event);
    const onWork = target === document.body || target === this.frame.card
      || !(target instanceof Element);
    if (scroll && (!onWork || this.pointedScroller())) return;
    if (scroll) {
      if (this.frame.scrollItem(scroll)) event.preventDefault();
      return;
    }
    const act = actionFor(event);
    if (!act) return;
    event.preventDefault();
    // A held key repeats: it must not label or skip items the user has not seen.
    if (event.repeat && !["back", "forward", "help"].includes(act.action)) return;
    switch (act.action) {
      case "class": this.chooseClass(act.index); break;
      case "submit": this.submit(); break;
      case "skip": this.skip(); break;
      case "back": this.back(); break;
      case "forward": this.forward(); break;
      case "comment":
        if (this.config.comments === false) this.frame.showHint("Comments are off here");
        else if (this.view) this.frame.focusComment();
        break;
      case "context": this.frame.toggleContext(); break;
      case "instructions": this.frame.toggleInstructions(); break;
      case "help": this.frame.toggleHelp(); break;
      case "find":
        if (!this.frame.focusClassFilter()) {
          this.frame.showHint(`Every class has its key here: ${classKeys(this.names.length)}`);
        }
        break;
      default: break;
    }
  }

  /**
   * A scroller other than the item's box that the last click landed in (the
   * instructions): the browser gives it the reading keys, and so does this page.
   */
  pointedScroller() {
    for (let el = this.pointed; el instanceof Element; el = el.parentElement) {
      if (el === this.frame.itemBox || el === this.frame.card) return false;
      const { overflowY } = getComputedStyle(el);
      if ((overflowY === "auto" || overflowY === "scroll") && el.scrollHeight > el.clientHeight) {
        return true;
      }
    }
    return false;
  }

  onBeforeUnload(event) {
    if (this.inflight || this.drafts.size || this.edits.size
        || this.changedOnScreen(this.view)) {
      event.preventDefault();
      event.returnValue = "";
    }
  }
}
