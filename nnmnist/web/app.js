// nnmnist serve: the drawing pad. Strokes are kept (for undo) and drawn on a white canvas in
// black; after each stroke the canvas goes to POST /predict and /number as a PNG file.
"use strict";
(function () {
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const seen = document.getElementById("seen");
  const strokes = [];
  let current = null;
  let asked = 0;

  function clearCanvas() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
  }
  function redraw() {
    clearCanvas();
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 18;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const s of strokes) {
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (const [x, y] of s) ctx.lineTo(x, y);
      if (s.length === 1) ctx.lineTo(s[0][0] + 0.1, s[0][1]);
      ctx.stroke();
    }
  }
  function at(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  }
  pad.addEventListener("pointerdown", (e) => {
    pad.setPointerCapture(e.pointerId);
    current = [at(e)];
    strokes.push(current);
    redraw();
  });
  pad.addEventListener("pointermove", (e) => {
    if (!current) return;
    current.push(at(e));
    redraw();
  });
  function end() {
    if (!current) return;
    current = null;
    pad.toBlob((blob) => ask(blob, "image/png"), "image/png");
  }
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  document.getElementById("undo").addEventListener("click", () => {
    strokes.pop();
    redraw();
    if (strokes.length) pad.toBlob((blob) => ask(blob, "image/png"), "image/png");
    else show(null, null);
  });
  document.getElementById("clear").addEventListener("click", () => {
    strokes.length = 0;
    redraw();
    show(null, null);
  });
  document.getElementById("file").addEventListener("change", (e) => {
    const f = e.target.files[0];
    if (f) ask(f, f.type || "image/png");
  });
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const f = e.dataTransfer.files[0];
    if (f) ask(f, f.type || "image/png");
  });

  async function post(path, body, type) {
    const r = await fetch(path, { method: "POST", body: body, headers: { "Content-Type": type } });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  async function ask(body, type) {
    const mine = ++asked;
    try {
      const [one, number] = await Promise.all([
        post("/predict?picture=1", body, type),
        post("/number", body, type),
      ]);
      if (mine === asked) show(one, number);
    } catch (err) {
      if (mine === asked) showError(String(err.message || err));
    }
  }

  const bars = document.getElementById("bars");
  const fills = [];
  const values = [];
  for (let d = 0; d < 10; d++) {
    const row = document.createElement("div");
    row.className = "row";
    const digit = document.createElement("span");
    digit.className = "digit";
    digit.textContent = String(d);
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.display = "block";
    track.appendChild(fill);
    const value = document.createElement("span");
    value.className = "value";
    row.append(digit, track, value);
    bars.appendChild(row);
    fills.push(fill);
    values.push(value);
  }

  function setText(id, text) { document.getElementById(id).textContent = text; }
  function showError(message) {
    setText("label", "");
    setText("number", "");
    setText("refused", message);
  }
  function show(one, number) {
    const several = number && number.number && number.number.replace(/ /g, "").length > 1;
    setText("number", several ? "number: " + number.number : "");
    const refused = one && one.refused;
    setText("label", one && !refused ? String(one.label) : (several ? "" : "\u00a0"));
    setText("refused", refused && !several ? "refused: " + one.refused.message : "");
    const probs = one && one.probabilities;
    for (let d = 0; d < 10; d++) {
      const p = probs ? probs[d] : 0;
      fills[d].style.width = (100 * p).toFixed(1) + "%";
      values[d].textContent = probs ? (100 * p).toFixed(1) + "%" : "";
      fills[d].parentElement.parentElement.classList.toggle("best", !!probs && d === one.label);
    }
    const g = seen.getContext("2d");
    g.fillStyle = "#000";
    g.fillRect(0, 0, seen.width, seen.height);
    if (one && one.picture) {
      const img = g.createImageData(28, 28);
      one.picture.forEach((row, y) => row.forEach((v, x) => {
        const i = 4 * (28 * y + x);
        img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
        img.data[i + 3] = 255;
      }));
      const tmp = document.createElement("canvas");
      tmp.width = tmp.height = 28;
      tmp.getContext("2d").putImageData(img, 0, 0);
      g.imageSmoothingEnabled = false;
      g.drawImage(tmp, 0, 0, seen.width, seen.height);
    }
  }

  fetch("/health").then((r) => r.json()).then((h) => setText("model", "model: " + h.model + " (" + h.arch + ")"));
  redraw();
  show(null, null);
})();
