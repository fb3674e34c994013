// Steps through the recorded backward pass in #trace (JSON), drawing on the inline graphviz SVG.
// Graphviz gives each node and edge a <title>: "t3" for tensor 3, "op3" for the op that made it,
// "t2->op3" for an edge; the trace names the same ids, so no layout is recomputed here.
"use strict";
const TRACE = JSON.parse(document.getElementById("trace").textContent);
const steps = TRACE.steps;
const byTitle = {};
document.querySelectorAll("#graph g.node, #graph g.edge").forEach((g) => {
  const title = g.querySelector("title");
  if (title) byTitle[title.textContent.replace("&#45;", "-")] = g;
});
let current = -1; // -1: before the first step (nothing has a gradient yet)
let timer = null;

function number(x) {
  return typeof x === "number" ? Number(x.toPrecision(6)).toString() : String(x);
}

function colourEdge(id, colour) {
  const g = byTitle[id];
  if (!g || !colour) return;
  g.classList.add("carries");
  g.querySelectorAll("path").forEach((p) => p.setAttribute("stroke", colour));
  g.querySelectorAll("polygon").forEach((p) => { p.setAttribute("stroke", colour); p.setAttribute("fill", colour); });
}

function resetGraph() {
  Object.values(byTitle).forEach((g) => {
    g.classList.remove("current", "visited", "carries");
    if (g.classList.contains("edge")) {
      g.querySelectorAll("path").forEach((p) => p.setAttribute("stroke", "#555555"));
      g.querySelectorAll("polygon").forEach((p) => { p.setAttribute("stroke", "#555555"); p.setAttribute("fill", "#555555"); });
    }
  });
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  children.forEach((c) => e.append(c));
  return e;
}

function tileMaps(tiles) {  // one side×side picture per row, on one colour scale
  const box = el("div", { class: "tiles" });
  const top = Math.max(...tiles.rows.flat().map(Math.abs)) || 1;
  tiles.rows.forEach((row) => {
    const canvas = el("canvas", { class: "tile", width: tiles.side, height: tiles.side });
    const ctx = canvas.getContext("2d");
    row.forEach((v, i) => {
      const t = Math.min(Math.abs(v) / top, 1), k = Math.round(255 * (1 - t));
      ctx.fillStyle = v >= 0 ? `rgb(255,${k},${k})` : `rgb(${k},${k},255)`;
      ctx.fillRect(i % tiles.side, Math.floor(i / tiles.side), 1, 1);
    });
    box.append(canvas);
  });
  return box;
}

function heatMap(cells) {
  const rows = cells.length, cols = cells[0].length;
  const canvas = el("canvas", { class: "heat", width: cols, height: rows });
  const shown = Math.max(rows, cols / 8); // very wide maps are stretched to 1:8 at most
  canvas.style.aspectRatio = `${cols} / ${shown}`;
  canvas.style.width = `min(100%, ${Math.min(28, (10 * cols) / shown)}em)`;
  const ctx = canvas.getContext("2d");
  const top = Math.max(...cells.flat().map(Math.abs)) || 1;
  cells.forEach((row, r) => row.forEach((v, c) => {
    const t = Math.min(Math.abs(v) / top, 1), k = Math.round(255 * (1 - t));
    ctx.fillStyle = v >= 0 ? `rgb(255,${k},${k})` : `rgb(${k},${k},255)`;
    ctx.fillRect(c, r, 1, 1);
  }));
  return canvas;
}

function tensorView(view, cls) {
  const box = el("div", { class: cls || "tensor" });
  const shape = view.shape.length === 1 ? `(${view.shape[0]},)` : view.shape.length ? `(${view.shape.join(", ")})` : "scalar";
  if (view.values) {
    // a matrix of up to 10 columns as a table; anything else as a wrapping row of cells
    const cols = view.shape.length === 2 && view.shape[1] <= 10 && view.shape[0] > 1 ? view.shape[1] : view.values.length;
    const table = el("div", { class: "values" });
    for (let r = 0; r < view.values.length / cols; r++) {
      const row = el("div", { class: "row" });
      view.values.slice(r * cols, (r + 1) * cols).forEach((v) => row.append(el("span", { class: "cell", "data-value": v }, number(v))));
      table.append(row);
    }
    box.append(el("div", { class: "stats" }, shape), table);
  } else if (view.stats) {
    const s = view.stats;
    box.append(el("div", { class: "stats" }, `${shape}  min ${number(s.min)}  max ${number(s.max)}  mean ${number(s.mean)}`));
    if (view.tiles) box.append(tileMaps(view.tiles), el("div", { class: "stats" }, `one ${view.tiles.side}×${view.tiles.side} tile per row`));
    else if (view.heat) box.append(heatMap(view.heat));
  } else {
    box.append(el("div", { class: "stats" }, `${shape} (empty)`));
  }
  return box;
}

function details(step) {
  const root = document.getElementById("details");
  root.replaceChildren();
  root.dataset.node = step.node;
  root.dataset.index = step.index;
  const head = el("div", { class: "card", id: "current" });
  head.append(el("h2", {}, !step.op ? `${step.label} (leaf: the gradient lands in .grad)` : step.label.includes(step.op) ? step.label : `${step.label} (${step.op})`));
  if (step.formula) head.append(el("div", { class: "formula" }, step.formula));
  head.append(el("h3", {}, "gradient reaching it, ∂loss/∂(this tensor)"));
  head.append(tensorView(step.grad, "tensor own-grad"));
  if (step.received.length > 1) {
    head.append(el("p", { class: "meet" }, `${step.received.length} paths meet here; their gradients are added: ` +
      step.received.map((r) => `from step ${r.from + 1} (${r.from_label})`).join(" + ")));
  } else if (step.received.length === 1) {
    head.append(el("p", {}, `from step ${step.received[0].from + 1} (${step.received[0].from_label})`));
  } else {
    head.append(el("p", {}, "the output: backward starts here with ∂loss/∂loss = 1"));
  }
  root.append(head);
  step.annotations.forEach((a) => {
    const card = el("div", { class: "card handderived" });
    card.append(el("h2", {}, `by hand: ${a.quantity}`), el("div", { class: "formula" }, a.formula));
    card.append(tensorView(a.value, "tensor hand-value"));
    card.append(el("p", {}, `largest difference from autograd: ${number(a.max_difference)}` + (a.note ? ` (${a.note})` : "")));
    if (a.link) card.append(el("a", { href: a.link }, "derivation"));
    root.append(card);
  });
  if (step.op) {
    const vjp = el("div", { class: "card", id: "handed" });
    vjp.append(el("h2", {}, "what its VJP hands each input"));
    step.handed.forEach((h) => {
      vjp.append(el("h3", {}, `${h.arg} → ${h.to}`));
      vjp.append(h.value ? tensorView(h.value, "tensor handed") : el("p", {}, "nothing: a constant needs no gradient"));
    });
    if (step.check) {
      const c = step.check;
      vjp.append(el("p", { class: c.passed ? "pass check" : "fail check" },
        `finite-difference check of this op alone: ${c.passed ? "pass" : "FAIL"} (max error ${number(c.max_error)} over ${c.elements} elements)`));
    }
    root.append(vjp);
  }
}

function show(k) {
  current = Math.max(-1, Math.min(steps.length - 1, k));
  resetGraph();
  for (let j = 0; j <= current; j++) {
    const s = steps[j];
    if (s.op_node) colourEdge(`${s.op_node}->${s.node}`, s.colour);
    s.handed.forEach((h) => h.edge && h.value && colourEdge(h.edge, h.colour));
    [s.node, s.op_node].forEach((id) => id && byTitle[id] && byTitle[id].classList.add(j === current ? "current" : "visited"));
  }
  document.getElementById("position").textContent = current < 0 ? `${steps.length} steps: press → to start` : `step ${current + 1} of ${steps.length}`;
  document.body.dataset.step = current;
  if (current >= 0) details(steps[current]);
  else document.getElementById("details").replaceChildren(el("p", {}, "Forward pass done. Backward visits the nodes newest first, as the engine does."));
  const target = current >= 0 && byTitle[steps[current].node];
  if (target) { // scroll the graph panel (not the page) so the current node is in view
    const box = document.getElementById("graph"), r = target.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (r.top < b.top || r.bottom > b.bottom) box.scrollTop += r.top - b.top - b.height / 3;
    if (r.left < b.left || r.right > b.right) box.scrollLeft += r.left - b.left - b.width / 3;
  }
}

function play() {
  if (timer) { clearInterval(timer); timer = null; document.getElementById("play").textContent = "▶ play"; return; }
  if (current >= steps.length - 1) show(-1);
  document.getElementById("play").textContent = "❚❚ pause";
  timer = setInterval(() => { if (current >= steps.length - 1) play(); else show(current + 1); }, 1200);
}

document.getElementById("next").addEventListener("click", () => show(current + 1));
document.getElementById("prev").addEventListener("click", () => show(current - 1));
document.getElementById("play").addEventListener("click", play);
document.addEventListener("keydown", (e) => {
  if (e.key === "ArrowRight") { show(current + 1); e.preventDefault(); }
  else if (e.key === "ArrowLeft") { show(current - 1); e.preventDefault(); }
  else if (e.key === " ") { play(); e.preventDefault(); }
});
show(-1);
