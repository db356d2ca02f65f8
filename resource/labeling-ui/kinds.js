// Renderers by data kind. Each module exports render(item, config, container);
// kinds still to come (image, boxes, sound, text) add a line here.

const RENDERERS = {
  tabular: () => import("./kind-tabular.js"),
};

/** The renderer module of a kind, or an Error naming the kinds this UI knows. */
export async function rendererFor(kind) {
  const load = RENDERERS[kind];
  if (!load) {
    throw new Error(
      `This page cannot show "${kind}" items (it knows: ${Object.keys(RENDERERS).join(", ")})`,
    );
  }
  return load();
}
