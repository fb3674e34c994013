// The draw-a-digit page: draws on a transparent canvas, posts each stroke as a PNG to /api/predict,
// and draws what comes back. No libraries, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const pen = pad.getContext("2d");
const state = { model: null, lastBody: null, lastType: null, drawing: false };

async function callApi(path, options) {
  const response = await fetch(path, options);
  const payload = await response.json();
  if (!response.ok) throw new Error(payload.error || `HTTP ${response.status}`);
  return payload;
}

function showStatus(text, isError) {
  $("status").textContent = text;
  $("status").classList.toggle("error", Boolean(isError));
}

// ---------------------------------------------------------------- models and their first layer
async function loadModels() {
  const { default: chosen, models } = await callApi("/api/models");
  const select = $("model");
  for (const m of models) {
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = m.name;
    option.title = m.label;
    select.appendChild(option);
  }
  select.value = chosen;
  await chooseModel(chosen, models);
  select.addEventListener("change", () => chooseModel(select.value, models).then(repeatLast));
}

async function chooseModel(name, models) {
  state.model = name;
  $("weights-label").textContent = "using " + models.find((m) => m.name === name).label;
  const w = await callApi("/api/weights?model=" + encodeURIComponent(name));
  drawFilters(w);
}

function drawFilters(w) {
  const box = $("filters");
  box.replaceChildren();
  $("weights-note").textContent = w.layer
    ? `${w.layer}: one 28×28 tile per hidden unit (showing ${w.weights.length} of ${w.units}); ` +
      "red pixels excite the unit, blue ones inhibit it."
    : "this model has no fully connected first layer to show.";
  for (const row of w.weights) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 28;
    paintPixels(tile, row.flat(), diverging(Math.max(...row.map(Math.abs)) || 1));
    box.appendChild(tile);
  }
}

// ---------------------------------------------------------------- painting helpers
function paintPixels(canvas, values, colour) {
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(28, 28);
  values.forEach((v, i) => image.data.set(colour(v), 4 * i));
  ctx.putImageData(image, 0, 0);
}

const gray = (v) => { const g = Math.round(255 * v); return [g, g, g, 255]; };

function diverging(scale) {  // white at 0, red for positive, blue for negative
  return (v) => {
    const t = Math.min(1, Math.abs(v) / scale);
    return v >= 0 ? [255, Math.round(255 * (1 - t)), Math.round(255 * (1 - t)), 255]
                  : [Math.round(255 * (1 - t)), Math.round(255 * (1 - t)), 255, 255];
  };
}

// ---------------------------------------------------------------- prediction
async function predict(body, type) {
  state.lastBody = body;
  state.lastType = type;
  showStatus("thinking...");
  try {
    const result = await callApi("/api/predict?model=" + encodeURIComponent(state.model), {
      method: "POST", headers: { "Content-Type": type }, body,
    });
    render(result);
    showStatus("");
  } catch (error) {
    showStatus(error.message, true);
  }
}

// ---------------------------------------------------------------- step through backprop (docs/explain.md)
for (let d = 0; d < 10; d++) $("true-label").append(new Option(String(d), String(d)));

async function stepThroughBackprop() {
  if (!state.lastInput) return;
  showStatus("tracing backward()...");
  try {
    const result = await callApi("/api/backprop?model=" + encodeURIComponent(state.model), {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ pixels: state.lastInput, label: Number($("true-label").value) }),
    });
    $("sgd-effect").textContent = result.sgd.summary;
    const url = URL.createObjectURL(new Blob([result.html], { type: "text/html" }));
    window.open(url, "_blank");  // the page is self-contained: it needs nothing from this server
    showStatus("");
  } catch (error) {
    showStatus(error.message, true);
  }
}
$("step-backprop").addEventListener("click", stepThroughBackprop);
$("true-label").addEventListener("change", () => { state.labelChosen = true; });

function repeatLast() {
  if (state.lastBody) predict(state.lastBody, state.lastType);
}

function render(r) {
  const digit = $("digit");
  digit.textContent = r.digit;
  digit.dataset.count = String(Number(digit.dataset.count || 0) + 1);
  $("output-kind").textContent = r.output === "scores"
    ? "sigmoid outputs divided by their sum: scores, not calibrated probabilities"
    : "softmax probabilities";
  const bars = $("bars");
  bars.replaceChildren();
  const percent = (p) => (Math.floor(p * 1000 + 1e-9) / 10).toFixed(1) + "%";  // never "100.0%" unless it is
  r.probabilities.forEach((p, d) => {
    const bar = document.createElement("div");
    bar.className = "bar" + (d === r.digit ? " top" : "");
    bar.dataset.digit = d;
    bar.innerHTML = `<span>${d}</span><div class="track"><div class="fill" style="width:${(100 * p).toFixed(1)}%">` +
      `</div></div><span class="value">${percent(p)}</span>`;
    bars.appendChild(bar);
  });
  state.lastInput = r.input;  // the 28x28 the model saw: what /api/backprop steps through
  $("step-backprop").disabled = false;
  if (!state.labelChosen) $("true-label").value = String(r.digit);
  const pixels = r.input.flat();
  paintPixels($("model-input"), pixels, gray);
  drawSaliency(pixels, r.saliency.flat());
  $("saliency-of").textContent = `(gradient of the ${r.saliency_of} with respect to each pixel)`;
  drawActivations(r.activations);
}

function drawSaliency(pixels, grads) {
  const scale = Math.max(...grads.map(Math.abs)) || 1;
  paintPixels($("saliency"), pixels.map((p, i) => [p, grads[i]]), ([p, g]) => {
    const t = Math.min(1, Math.abs(g) / scale);
    const base = 40 + 80 * p;  // the digit, dimmed, under the colour
    const hue = g >= 0 ? [214, 39, 40] : [31, 119, 180];
    return [...hue.map((c) => Math.round(base * (1 - t) + c * t)), 255];
  });
}

function drawActivations(layers) {
  const box = $("activations");
  box.replaceChildren();
  if (!layers.length) box.textContent = "this model's layers are not shown unit by unit.";
  for (const layer of layers) {
    const peak = Math.max(1, ...layer.values);
    const div = document.createElement("div");
    div.className = "layer";
    div.innerHTML = `<div class="note">${layer.layer}: ${layer.values.length} units ` +
      `(darker = more active${peak > 1 ? `, scaled by the largest, ${peak.toFixed(2)}` : ""})</div>`;
    const cells = document.createElement("div");
    cells.className = "cells";
    for (const v of layer.values) {
      const cell = document.createElement("div");
      cell.className = "cell";
      const t = v / peak;
      cell.style.background = `rgb(${Math.round(255 - 230 * t)}, ${Math.round(255 - 180 * t)}, ${Math.round(255 - 90 * t)})`;
      cell.title = v.toFixed(3);
      cells.appendChild(cell);
    }
    div.appendChild(cells);
    box.appendChild(div);
  }
}

// ---------------------------------------------------------------- drawing: mouse, pen or finger
function point(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * (pad.width / rect.width), (event.clientY - rect.top) * (pad.height / rect.height)];
}

pen.lineWidth = 18;
pen.lineCap = pen.lineJoin = "round";
pen.strokeStyle = "#000";  // black strokes on a transparent canvas: the PNG the API gets

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  state.drawing = true;
  const [x, y] = point(event);
  pen.beginPath();
  pen.moveTo(x, y);
  pen.lineTo(x + 0.01, y);
  pen.stroke();
});

pad.addEventListener("pointermove", (event) => {
  if (!state.drawing) return;
  const [x, y] = point(event);
  pen.lineTo(x, y);
  pen.stroke();
});

function endStroke() {
  if (!state.drawing) return;
  state.drawing = false;
  pad.toBlob((blob) => predict(blob, "image/png"), "image/png");
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

$("clear").addEventListener("click", () => {
  pen.clearRect(0, 0, pad.width, pad.height);
  state.lastBody = null;
  $("digit").textContent = "";
  for (const id of ["bars", "activations"]) $(id).replaceChildren();
  for (const id of ["model-input", "saliency"]) $(id).getContext("2d").clearRect(0, 0, 28, 28);
  showStatus("");
});

$("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (!file) return;
  pen.clearRect(0, 0, pad.width, pad.height);
  predict(file, file.type || "application/octet-stream");
});

loadModels().catch((error) => showStatus(error.message, true));
