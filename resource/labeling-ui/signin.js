// The sign-in form, shown when the API answers 401 (standalone accounts).

import { api, ApiError, setCsrfToken } from "./api.js";
import { h } from "./dom.js";

/**
 * Build a sign-in form. `onSignedIn(user)` runs after a successful login
 * (the CSRF token is already set for later requests).
 */
export function signInForm({ message, onSignedIn }) {
  const error = h("p", { class: "al-form-error", role: "alert", hidden: true });
  const name = h("input", {
    id: "al-signin-name", name: "username", autocomplete: "username", required: true,
    autocapitalize: "none", spellcheck: "false",
  });
  const password = h("input", {
    id: "al-signin-password", name: "password", type: "password",
    autocomplete: "current-password", required: true,
  });
  const submit = h("button", { type: "submit", class: "al-btn al-btn-primary", text: "Sign in" });
  const form = h("form", { class: "al-signin", "aria-labelledby": "al-signin-title" },
    h("h2", { id: "al-signin-title", text: "Sign in to label" }),
    message ? h("p", { class: "al-muted", text: message }) : null,
    h("div", { class: "al-field" }, h("label", { for: name.id, text: "User name" }), name),
    h("div", { class: "al-field" }, h("label", { for: password.id, text: "Password" }), password),
    error,
    submit);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const result = await api.login(name.value.trim(), password.value);
      setCsrfToken(result.csrf_token);
      await onSignedIn(result.user);
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      error.hidden = false;
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
  form.focusFirst = () => (name.value ? password : name).focus();
  return form;
}
