// Keeps what /api/config says current while the page stays open: the loop's stopping
// warnings (the model is retrained in the background, the page may stay open for
// hours), the progress, and the sign-in session (an expired one is noticed, and its
// CSRF token kept). Re-read every minute while the page is visible, at once when it
// comes back into view after longer than that, and at once when the controller sees a
// new model session in an answer (refreshNow): a retraining's warnings may hold for a
// few labels only, so a minute is too late for them. It never moves focus: what it
// changes is drawn where it is, so typing and keyboard labeling go on undisturbed.

import { ApiError } from "./api.js";

export const REFRESH_MS = 60_000;

export class ConfigRefresher {
  /**
   * `load()`: fetch the configuration; `apply(config)`: show it; `onUnauthenticated()`:
   * the session ended.
   */
  constructor({ load, apply, onUnauthenticated = () => {}, intervalMs = REFRESH_MS }) {
    this.load = load;
    this.apply = apply;
    this.onUnauthenticated = onUnauthenticated;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.running = false;
    this.again = false; // asked for while a read ran: read once more after it
    this.stopped = true;
    this.lastRead = 0;
    this.onVisibility = this.onVisibility.bind(this);
  }

  start() {
    this.stopped = false;
    this.lastRead = Date.now(); // the page was just drawn from a fresh configuration
    document.addEventListener("visibilitychange", this.onVisibility);
    this.schedule();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.intervalMs);
  }

  async tick() {
    // A hidden page is not re-read: nobody sees it, and DSS need not be asked.
    if (document.visibilityState === "visible") await this.refresh();
    this.schedule();
  }

  async onVisibility() {
    if (document.visibilityState !== "visible" || this.stopped) return;
    if (Date.now() - this.lastRead >= this.intervalMs) {
      await this.refresh();
      this.schedule();
    }
  }

  /**
   * Read now, and count the next minute from here. A read already running may have been
   * answered before the change that prompted this one: another read follows it.
   */
  async refreshNow() {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    await this.refresh();
    this.schedule();
  }

  async refresh() {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const config = await this.load();
      this.lastRead = Date.now();
      if (!this.stopped) this.apply(config);
    } catch (err) {
      if (err instanceof ApiError && err.unauthenticated) this.onUnauthenticated();
      // Otherwise keep what is on screen: the next read may succeed.
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      await this.refresh();
    }
  }
}
