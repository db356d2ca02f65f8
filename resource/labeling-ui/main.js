// Bootstrap: read the configuration, then show the sign-in form (401) or the labeling UI.

import { api, ApiError, inDss, setCsrfToken } from "./api.js";
import { Controller } from "./controller.js";
import { h, replaceChildren } from "./dom.js";
import { Frame } from "./frame.js";
import { rendererFor } from "./kinds.js";
import { ConfigRefresher, REFRESH_MS } from "./refresh.js";
import { signInForm } from "./signin.js";

function rootElement() {
  let root = document.getElementById("labeling-app");
  if (!root) {
    root = h("div", { id: "labeling-app" });
    document.body.append(root);
  }
  return root;
}

const root = rootElement();
let controller = null;
let refresher = null;
let currentUser = null;

function stopController() {
  if (refresher) refresher.stop();
  refresher = null;
  if (controller) controller.destroy();
  controller = null;
}

/** What a later read of /api/config changes on a page already drawn. */
function applyFreshConfig(frame, config) {
  if (config.user && config.user.name !== currentUser) {
    // Someone else signed in in another tab: this page must not go on as them unasked.
    // DSS has no sign-in here: its user changed in DSS itself, so start afresh as them.
    if (inDss()) boot();
    else {
      signInAgain(`This browser is now signed in as ${config.user.name} (in another tab `
        + `or window). Sign in again to go on as ${currentUser}: what is on screen is kept.`);
    }
    return;
  }
  if (config.csrf_token) setCsrfToken(config.csrf_token);
  frame.setWarnings(config.warnings || []);
  frame.setRetraining(config.retraining);
  if (config.stats) frame.progress.update(config.stats);
  if (controller) controller.configRead(config);
}

function centered(...children) {
  root.classList.add("al-app");
  replaceChildren(root, h("div", { class: "al-center" }, h("div", { class: "al-card al-panel" },
    children)));
}

function showSplash() {
  centered(h("p", { class: "al-muted", "aria-busy": "true", text: "Loading the labeling project…" }));
}

function showFatal(err) {
  stopController();
  centered(
    h("h2", { text: "The labeling page cannot start" }),
    h("p", { class: "al-error-text", role: "alert", text: err.message || String(err) }),
    h("button", { type: "button", class: "al-btn al-btn-primary", text: "Try again",
      onclick: () => boot() }),
  );
}

function showSignIn(message) {
  stopController();
  setCsrfToken(null);
  const form = signInForm({ message, onSignedIn: () => boot() });
  centered(form);
  form.focusFirst();
}

const SESSION_ENDED = "Your session has ended. Sign in again: what is on screen is kept.";
const SESSION_REPLACED = "This browser signed in or out in another tab or window since "
  + "this page was opened. Sign in again: what is on screen is kept.";

/**
 * The session ended mid-work, or another tab's sign-in replaced it: sign in again in a
 * dialog, keeping the screen as it is. `why`: the failed request's error, or a message.
 */
function signInAgain(why) {
  if (inDss() || root.querySelector("dialog.al-signin-dialog")) return;
  let message = SESSION_ENDED;
  if (typeof why === "string") message = why;
  else if (why instanceof ApiError && why.sessionChanged) message = SESSION_REPLACED;
  const dialog = h("dialog", { class: "al-dialog al-signin-dialog" });
  const form = signInForm({
    message,
    onSignedIn: (user) => {
      dialog.close();
      if (!user || user.name !== currentUser) boot(); // someone else: start afresh
      else if (controller) controller.signedInAgain();
    },
  });
  dialog.append(form);
  dialog.addEventListener("close", () => dialog.remove());
  root.append(dialog);
  dialog.showModal();
  form.focusFirst();
}

/** A viewer account has nothing to do on the labeling page: say so, not a dead page. */
function showViewer(user) {
  centered(
    h("h2", { text: "Nothing to label with this account" }),
    h("p", { text: `You are signed in as ${user.name}, a viewer: labeling needs the `
      + "annotator role. Ask a project manager to give it to you." }),
    h("button", { type: "button", class: "al-btn", text: "Sign out", onclick: () => signOut() }));
}

async function signOut() {
  try {
    await api.logout();
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  showSignIn("You are signed out.");
}

// When the labeler last used the page: its reservations are renewed while they do.
let lastActivity = Date.now();
for (const type of ["keydown", "pointerdown", "wheel"]) {
  document.addEventListener(type, () => { lastActivity = Date.now(); },
    { capture: true, passive: true });
}

async function boot() {
  stopController();
  showSplash();
  let config;
  try {
    config = await api.config();
  } catch (err) {
    // DSS identifies users itself: a 401 there is not fixed by a password.
    if (err instanceof ApiError && err.unauthenticated && !inDss()) showSignIn();
    else showFatal(err);
    return;
  }
  if (config.csrf_token) setCsrfToken(config.csrf_token);
  currentUser = config.user ? config.user.name : null;
  if (config.user && config.user.role === "viewer") {
    showViewer(config.user);
    return;
  }
  if (!inDss() && config.title) document.title = config.title;
  let renderer;
  try {
    renderer = await rendererFor(config.kind);
  } catch (err) {
    showFatal(err);
    return;
  }
  const handlers = {
    classClicked: (index) => controller && controller.chooseClass(index),
    commentChanged: (text) => controller && controller.setComment(text),
    submit: () => controller && controller.submit(),
    skip: () => controller && controller.skip(),
    back: () => controller && controller.back(),
    forward: () => controller && controller.forward(),
    signOut,
  };
  const frame = new Frame(root, config, handlers);
  controller = new Controller(frame, config, renderer.render, {
    describe: renderer.describe,
    onUnauthenticated: signInAgain,
    onNewSession: () => refresher && refresher.refreshNow(),
  });
  // The warnings change when the model is retrained, long after the page was opened.
  // Each read also keeps this page's reserved items while its labeler uses it (a key
  // or a click within one reservation time), at least twice per reservation time.
  const leaseMs = 1000 * (config.lease_seconds || 600);
  refresher = new ConfigRefresher({
    load: () => api.config(Date.now() - lastActivity < leaseMs ? { active: 1 } : undefined),
    apply: (fresh) => applyFreshConfig(frame, fresh),
    onUnauthenticated: signInAgain,
    intervalMs: Math.min(REFRESH_MS, leaseMs / 2),
  });
  refresher.start();
  await controller.start();
}

boot();
