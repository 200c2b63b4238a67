/**
 * Browser-side helpers of both reports (the study's and the transplant's), as source text inlined before the figures'
 * code: sections, figures and text tables, export of every figure (SVG, PNG, and its data as CSV, all made in the
 * page, no server), weight tiles, a colour domain one outlier cannot wash out, and unit tick thinning for the unit
 * axes.
 *
 * Robust colour scales: a heatmap's colour domain ends at the 99th percentile of |value| (at least the largest value
 * below it), cells beyond are drawn in the end colour and marked with a dot; the legend says so. One unit whose
 * ablation costs 40 pp would otherwise leave every other cell of a 100-unit map near white.
 */
export const CLIENT_TOOLS = String.raw`
/** A class name as an axis tick: long ones shortened with an ellipsis (a 60-character name ran over its neighbours); tooltips keep it whole. */
function classTick(name) {
  const text = String(name);
  return text.length > 12 ? text.slice(0, 11) + "…" : text;
}
/** The classes labelled on a class axis: all up to 30, else about 25 evenly spaced (100 labels overlapped into a smear). */
function classTicks(classes) {
  if (classes.length <= 30) return classes;
  const step = Math.ceil(classes.length / 25);
  return classes.filter((_, i) => i % step === 0);
}
/**
 * A fraction as a percentage-point axis tick, with as many decimals as the tick needs: 0.0005 is "0.05", not "0.1"
 * (a 1000-unit site's drop axis read "0.1 pp" on every tick).
 */
function pointsTick(v) {
  return String(+(100 * v).toFixed(3));
}
/**
 * A fraction 0..1 in a tooltip as the axis beside it reads: percent (accuracies) or percentage points (drops and other
 * differences). A trial found tooltips giving 0.91 beside an axis in pp for a drop of 91 pp.
 */
function percentText(v) {
  return v === null || v === undefined || Number.isNaN(v) ? "n/a" : (100 * v).toFixed(2) + "%";
}
function pointsText(v) {
  return v === null || v === undefined || Number.isNaN(v) ? "n/a" : (100 * v).toFixed(2) + " pp";
}
/** A section of the page (under the page's own main element unless another parent is given). */
function section(id, title, parent = main) {
  const s = document.createElement("section");
  s.id = id;
  const h = document.createElement("h2");
  h.textContent = title;
  s.append(h);
  parent.append(s);
  return s;
}
/** A figure: the drawing, its caption, and (given a file name) SVG/PNG/CSV downloads of it and of its rows. */
function figure(parent, node, caption, name, rows) {
  const f = document.createElement("figure");
  f.className = "figure";
  const drawing = document.createElement("div");
  drawing.className = "drawing";
  drawing.append(node);
  f.append(drawing);
  const c = document.createElement("figcaption");
  c.textContent = caption;
  f.append(c);
  if (name) exportable(f, name, rows);
  parent.append(f);
  return f;
}
/** A table of text cells: a header row, then one row per entry of rows. */
function table(rows, header) {
  const t = document.createElement("table");
  const cell = (tag, v) => { const e = document.createElement(tag); e.textContent = String(v); return e; };
  const head = document.createElement("tr");
  header.forEach((h) => head.append(cell("th", h)));
  t.append(head);
  for (const r of rows) { const tr = document.createElement("tr"); r.forEach((v) => tr.append(cell("td", v))); t.append(tr); }
  return t;
}
/**
 * One unit's incoming weights (width·height values, row by row) as a canvas of that size: red positive, blue
 * negative, white 0, scaled by the unit's largest |weight| (red above 0, as the page's signed heatmaps draw it).
 */
function weightTile(values, width, height) {
  const max = Math.max(1e-9, ...values.map(Math.abs));
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(width, height);
  values.forEach((v, p) => {
    const t = v / max;
    image.data.set(t >= 0 ? [255, 255 * (1 - t), 255 * (1 - t), 255] : [255 * (1 + t), 255 * (1 + t), 255, 255], 4 * p);
  });
  ctx.putImageData(image, 0, 0);
  return canvas;
}
function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
function csvText(rows) {
  if (rows.length === 0) return "";
  const keys = Object.keys(rows[0]);
  const cell = (v) => v === null || v === undefined ? "" : typeof v === "string" && /[",\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : String(v);
  return keys.join(",") + "\n" + rows.map((r) => keys.map((k) => cell(r[k])).join(",")).join("\n") + "\n";
}
/**
 * The figure's drawing as one standalone SVG, laid out as on the page: every top-level svg (plots, ramp legends,
 * swatches) and canvas (as an embedded PNG) at its position, and the swatch legends' labels as text.
 */
function figureSvg(node) {
  const root = node.getBoundingClientRect();
  const at = (e) => { const b = e.getBoundingClientRect(); return { x: b.x - root.x, y: b.y - root.y, w: b.width, h: b.height }; };
  const body = [];
  for (const e of node.querySelectorAll("svg, canvas")) {
    if (e.parentElement && e.parentElement.closest("svg")) continue;
    const b = at(e);
    if (b.w === 0 || b.h === 0) continue;
    if (e.tagName.toLowerCase() === "canvas") {
      body.push('<image x="' + b.x + '" y="' + b.y + '" width="' + b.w + '" height="' + b.h + '" preserveAspectRatio="none" style="image-rendering:pixelated" href="' + e.toDataURL("image/png") + '"/>');
      continue;
    }
    const copy = e.cloneNode(true);
    copy.setAttribute("x", String(b.x)); copy.setAttribute("y", String(b.y)); copy.setAttribute("width", String(b.w)); copy.setAttribute("height", String(b.h));
    if (!copy.getAttribute("viewBox")) copy.setAttribute("viewBox", "0 0 " + b.w + " " + b.h);
    body.push(new XMLSerializer().serializeToString(copy));
  }
  for (const swatch of node.querySelectorAll("[class$='-swatch']")) {
    const mark = swatch.querySelector("svg");
    const text = swatch.textContent.trim();
    if (!mark || !text) continue;
    const b = at(mark);
    body.push('<text x="' + (b.x + b.w + 3) + '" y="' + (b.y + b.h / 2) + '" dominant-baseline="middle">' + text.replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" })[c]) + "</text>");
  }
  const width = Math.ceil(root.width), height = Math.ceil(root.height);
  return { width, height, text: '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="' + width + '" height="' + height + '" viewBox="0 0 ' + width + " " + height + '" font-family="system-ui, sans-serif" font-size="10"><rect width="100%" height="100%" fill="white"/>' + body.join("") + "</svg>" };
}
function svgToPng(svg, done) {
  const image = new Image();
  image.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = 2 * svg.width; canvas.height = 2 * svg.height;
    const ctx = canvas.getContext("2d");
    ctx.scale(2, 2);
    ctx.drawImage(image, 0, 0);
    canvas.toBlob(done, "image/png");
  };
  image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg.text);
}
/** Download buttons under a figure: SVG and PNG of what is drawn, CSV of the rows it was drawn from. */
function exportable(fig, name, rows) {
  const bar = document.createElement("div");
  bar.className = "exports";
  const button = (label, action) => { const b = document.createElement("button"); b.type = "button"; b.textContent = label; b.dataset.export = label.toLowerCase(); b.addEventListener("click", action); bar.append(b); };
  const drawing = () => fig.querySelector(".drawing") ?? fig;
  button("SVG", () => download(name + ".svg", new Blob([figureSvg(drawing()).text], { type: "image/svg+xml" })));
  button("PNG", () => svgToPng(figureSvg(drawing()), (blob) => download(name + ".png", blob)));
  button("CSV", () => download(name + ".csv", new Blob([csvText(typeof rows === "function" ? rows() : rows)], { type: "text/csv" })));
  fig.append(bar);
  return fig;
}
/** The 99th percentile of |values| (nulls skipped), and how many values lie beyond it. */
function robustMax(values) {
  const a = values.filter((v) => v !== null && Number.isFinite(v)).map(Math.abs).sort((x, y) => x - y);
  if (a.length === 0) return { max: 1, clipped: 0 };
  const q = a[Math.min(a.length - 1, Math.floor(0.99 * (a.length - 1)))] || a[a.length - 1] || 1;
  return { max: q, clipped: a.filter((v) => v > q).length };
}
/** About 50 tick values from a unit order, so unit indices stay legible. */
function unitTicks(order, most = 50) {
  const step = Math.max(1, Math.ceil(order.length / most));
  return order.filter((_, i) => i % step === 0);
}
`;
