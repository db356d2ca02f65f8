// Word between the tabs of one browser: a user's tabs are handed the same reserved items,
// so an item one tab saves is dropped by the others before their user labels it again.

/**
 * A channel for `user`'s tabs on this page's address: `announce(id)` tells the others
 * that this tab saved the item `id`; `onDone(fn)` hears theirs. Without BroadcastChannel
 * (old browsers) it does nothing: the server still refuses a second first label.
 */
export function tabChannel(user) {
  if (typeof BroadcastChannel === "undefined") {
    return { announce() {}, onDone() {}, close() {} };
  }
  const channel = new BroadcastChannel(`al-done:${location.pathname}:${user || ""}`);
  return {
    announce: (id) => channel.postMessage({ done: id }),
    onDone: (listener) => {
      channel.onmessage = (event) => {
        const id = event.data && event.data.done;
        if (typeof id === "string") listener(id);
      };
    },
    close: () => channel.close(),
  };
}
