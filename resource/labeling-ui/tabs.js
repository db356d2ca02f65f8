// Word between the tabs of one browser. A user's tabs are handed the same reserved items:
// an item one tab saves is dropped by the others before their user labels it again, and
// a tab that gives its items fetched ahead back to the queue keeps those another tab
// shows (its user is labeling them).

/**
 * A channel for `user`'s tabs on this page's address:
 * - `announce(id)`: this tab saved the item `id`; `onDone(fn)` hears the others';
 * - `showing(id)`: the new item this tab shows (null: none); `shownElsewhere()`: the
 *   items the other open tabs show.
 * Without BroadcastChannel (old browsers) it does nothing: the server still refuses a
 * second first label.
 */
export function tabChannel(user) {
  if (typeof BroadcastChannel === "undefined") {
    return { announce() {}, onDone() {}, showing() {}, shownElsewhere: () => new Set(),
      close() {} };
  }
  const channel = new BroadcastChannel(`al-done:${location.pathname}:${user || ""}`);
  const me = Math.random().toString(36).slice(2);
  const shown = new Map(); // other tab -> the item it shows
  let mine = null;
  let onDone = () => {};
  const gone = () => channel.postMessage({ gone: me });
  channel.onmessage = ({ data }) => {
    if (!data || typeof data !== "object" || data.tab === me) return;
    if (typeof data.done === "string") onDone(data.done);
    if (typeof data.tab === "string" && "shows" in data) {
      if (typeof data.shows === "string") shown.set(data.tab, data.shows);
      else shown.delete(data.tab);
    }
    if (typeof data.gone === "string") shown.delete(data.gone);
    // A tab opened: it learns what this one shows.
    if (data.hello) channel.postMessage({ tab: me, shows: mine });
  };
  window.addEventListener("pagehide", gone);
  channel.postMessage({ hello: true, tab: me });
  return {
    announce: (id) => channel.postMessage({ done: id, tab: me }),
    onDone: (listener) => {
      onDone = listener;
    },
    showing: (id) => {
      if (id === mine) return;
      mine = id;
      channel.postMessage({ tab: me, shows: id });
    },
    shownElsewhere: () => new Set(shown.values()),
    close: () => {
      gone();
      window.removeEventListener("pagehide", gone);
      channel.close();
    },
  };
}
