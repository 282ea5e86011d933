// What an agent did to choose a step's action (its pop_trace): a search strategy's tree as a
// collapsible tree (each node: the action, visits, value; the chosen one marked), anything else as JSON.

import { badge, h, json, num } from "./dom.js";

const OPEN_DEPTH = 1; // levels shown unfolded (the chosen path is always unfolded)

function nodeLine(node) {
  const label = node.action ? h("code", { class: "node-action" }, node.action) : h("strong", null, "root (real state)");
  const out = [label, " "];
  if (node.chosen) out.push(badge("chosen", "ok chosen"));
  out.push(badge(`visits ${node.visits ?? 0}`, "visits"), badge(`value ${num(node.value, 3)}`, "value"));
  if (typeof node.eval === "number" && node.eval !== node.value) out.push(badge(`eval ${num(node.eval, 3)}`, "eval"));
  if (node.success) out.push(badge("success", "ok"));
  else if (node.done) out.push(badge("ended", "bad"));
  return h("span", { class: "node-line" }, out);
}

function onChosenPath(node) {
  return Boolean(node.chosen) || (node.children || []).some(onChosenPath);
}

export function renderNode(node, depth = 0) {
  const kids = node.children || [];
  const cls = `tree-node${node.chosen ? " chosen" : ""}`;
  if (!kids.length) return h("li", { class: cls }, nodeLine(node));
  const open = depth < OPEN_DEPTH || onChosenPath(node);
  return h(
    "li",
    { class: cls },
    h("details", { open }, h("summary", null, nodeLine(node)), h("ul", { class: "tree" }, kids.map((k) => renderNode(k, depth + 1)))),
  );
}

function spentText(spent) {
  if (!spent) return "";
  return Object.entries(spent)
    .map(([k, v]) => `${v} ${k.replaceAll("_", " ")}`)
    .join(", ");
}

export function renderTrace(trace) {
  if (!trace || typeof trace !== "object") return null;
  if (!trace.tree || typeof trace.tree !== "object") {
    return h("details", { class: "trace" }, h("summary", null, `strategy trace (${Object.keys(trace).join(", ")})`), h("pre", null, json(trace)));
  }
  const tree = trace.tree;
  const rest = Object.fromEntries(Object.entries(trace).filter(([k]) => !["tree", "strategy", "spent", "episode_spent"].includes(k)));
  const head = `search tree · ${trace.strategy || "search"} · ${tree.nodes ?? "?"} nodes · spent ${spentText(trace.spent)}`;
  return h(
    "details",
    { class: "trace search" },
    h("summary", null, head),
    tree.kept < tree.nodes ? h("p", { class: "muted" }, `showing the first ${tree.kept} of ${tree.nodes} nodes (breadth first)`) : null,
    h("ul", { class: "tree root" }, renderNode(tree)),
    h("p", { class: "muted trace-meta" }, `episode so far: ${spentText(trace.episode_spent)}`),
    Object.keys(rest).length ? h("pre", { class: "trace-rest" }, json(rest)) : null,
  );
}
