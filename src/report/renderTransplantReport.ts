/**
 * The transplant's report: one self-contained HTML file like the study's (Observable Plot and d3 inlined, the data as
 * JSON, SVG/PNG/CSV downloads under every figure, no network). Sections: accuracy per class before, after the
 * transplant and after each control; the gains with their bootstrap intervals, as a figure and a table (with the
 * transplant minus each control); the ablation check; the transplanted units' incoming weights.
 */
import { CLIENT_TOOLS } from "./clientTools.js";
import { escapeHtml, reportPage } from "./reportPage.js";
import type { TransplantReportData } from "./transplantReportData.js";

/** The transplant's rules besides the shared ones: table spacing and labelled weight tiles. */
const STYLE = `  table { margin: .5rem 0 1rem; }
  .weights { display: grid; grid-template-columns: repeat(auto-fill, 96px); gap: 6px; }
  .weights div { font-size: 11px; text-align: center; color: #444; }
  .weights canvas { width: 84px; height: 84px; image-rendering: pixelated; border: 1px solid #ddd; display: block; margin: 0 auto; }
`;

/** The page for `data` (from `transplantReportData`), as HTML text; throws nothing a user can cause. */
export function renderTransplantReport(data: TransplantReportData): string {
  const target = data.class === null ? "" : ` for class ${escapeHtml(data.classNames[data.class] ?? String(data.class))}`;
  return reportPage({
    title: `lesion transplant: ${escapeHtml(data.donor)} into ${escapeHtml(data.recipient)}${target}`,
    style: STYLE,
    body: `<h1>Transplant${target}: <code>${escapeHtml(data.donor)}</code> into <code>${escapeHtml(data.recipient)}</code></h1>
<p id="setup"></p>
<main id="report"></main>`,
    data,
    client: CLIENT,
  });
}

/** The browser side: builds every section from the embedded data. */
const CLIENT = CLIENT_TOOLS + String.raw`
const data = JSON.parse(document.getElementById("data").textContent);
const main = document.getElementById("report");
const classes = data.classNames;
const target = data.class;
const pct = (v) => v === null || v === undefined ? "n/a" : (100 * v).toFixed(1) + "%";
const pp = (v) => (v >= 0 ? "+" : "−") + Math.abs(100 * v).toFixed(1);
const interval = (g) => g ? pp(g.estimate) + " [" + pp(g.low) + ", " + pp(g.high) + "]" : "n/a";
const level = Math.round(100 * data.level);
const conditions = data.outcomes.map((o) => o.name);
const colours = { before: "#9c9c9c", transplant: "#e45756", "random-units": "#4c78a8", "fresh-units": "#72b7b2", finetune: "#f2a541", "transplanted units ablated": "#555" };
const unitList = (units) => units.length > 12 ? units.slice(0, 12).join(",") + ",… (" + units.length + ")" : units.join(",");

// What was moved where, on what budget.
{
  const p = document.getElementById("setup");
  const b = data.budget;
  p.textContent = "Donor units " + data.population.site + ":" + unitList(data.population.units) + " (" + data.population.rule + ") became units " + data.transplanted.site + ":" + unitList(data.transplanted.units) + " of the merged model (model.onnx)" + (data.transplanted.branch.length ? ", with their upstream branch " + data.transplanted.branch.map((x) => x.site + ":" + unitList(x.units) + " (donor " + x.donorSite + ")").join(", ") : "") + ". Budget: " + b.samples + " labelled images of " + data.data + (target === null ? "" : " (" + b.perClass[target] + " of class " + classes[target] + ")") + ", " + b.epochs + " epochs, " + b.optimizer + " lr " + b.lr + ", batch " + b.batchSize + "; seeds " + data.seeds.join(", ") + ". Measured on " + data.test + ". Made by lesion from summary.json and model.onnx in this folder; rebuild it with lesion report DIR." + (data.warnings.length ? " Warnings: " + data.warnings.join("; ") : "");
}

// Accuracy per class: before, transplant, each control.
{
  const s = section("classes", "Accuracy per class: before, after the transplant, after each control");
  const rows = data.outcomes.flatMap((o) => classes.map((c, k) => ({ class: c, condition: o.name, accuracy: o.perClass[k] }))).filter((r) => r.accuracy !== null);
  const gainOf = (name) => data.gains.find((g) => g.condition === name);
  // The target class's interval: accuracy before plus the gain's interval (gains are after − before on the same images).
  const before = target === null ? null : data.outcomes[0].perClass[target];
  const whiskers = target === null || before === null ? [] : conditions.slice(1).map((name) => ({ class: classes[target], condition: name, low: before + gainOf(name).target.low, high: before + gainOf(name).target.high }));
  const plot = Plot.plot({
    width: Math.max(700, classes.length * 95), height: 320, marginLeft: 50, marginBottom: 40,
    fx: { label: "class", domain: classes, padding: 0.15, ticks: classTicks(classes), tickFormat: classTick }, x: { axis: null, domain: conditions }, y: { label: "accuracy", domain: [0, 1], grid: true, tickFormat: (v) => Math.round(100 * v) + "%" },
    color: { legend: true, domain: conditions, range: conditions.map((c) => colours[c] ?? "#999") },
    marks: [
      Plot.barY(rows, { fx: "class", x: "condition", y: "accuracy", fill: "condition", tip: true, title: (d) => d.condition + ", class " + d.class + ": " + pct(d.accuracy) }),
      Plot.ruleX(whiskers, { fx: "class", x: "condition", y1: "low", y2: "high", stroke: "black", strokeWidth: 1.5, className: "gain-interval" }),
      Plot.ruleY([0]),
    ],
  });
  figure(s, plot, "Test accuracy of each class: the recipient before (grey), after the transplant (red), and after each control trained with the same budget: random-units (as many units drawn at random from the donor's same layer), fresh-units (as many new units, trained in and out), finetune (the recipient trained whole)." + (data.seeds.length > 1 ? " Means over " + data.seeds.length + " seeds." : "") + (whiskers.length ? " Black whiskers on class " + classes[target] + ": the " + level + " % bootstrap interval of each condition's gain on that class (" + data.resamples + " resamples of the test images" + (data.seeds.length > 1 ? " and seeds" : "") + "), added to the accuracy before." : ""), "transplant-classes", rows);
}

// Gains with intervals: figure and table.
{
  const s = section("gains", "Gains with " + level + " % bootstrap intervals");
  const kinds = target === null ? ["overall"] : ["target", "others", "overall"];
  const kindLabel = (k) => k === "target" ? "class " + classes[target] : k === "others" ? "other classes" : "overall";
  const rows = data.gains.flatMap((g) => kinds.filter((k) => g[k]).map((k) => ({ condition: g.condition, scope: kindLabel(k), gain: g[k].estimate, low: g[k].low, high: g[k].high })));
  figure(s, Plot.plot({
    width: 900, height: 90 + 40 * data.gains.length * kinds.length / 1.5, marginLeft: 110, marginRight: 110,
    fy: { label: null, domain: kinds.map(kindLabel) }, y: { label: null, domain: data.gains.map((g) => g.condition) },
    x: { label: "gain in accuracy (percentage points)", grid: true, tickFormat: (v) => (100 * v).toFixed(0) },
    color: { domain: conditions, range: conditions.map((c) => colours[c] ?? "#999") },
    marks: [
      Plot.ruleX([0], { stroke: "#888" }),
      Plot.ruleY(rows, { fy: "scope", y: "condition", x1: "low", x2: "high", stroke: "condition", strokeWidth: 2 }),
      Plot.dot(rows, { fy: "scope", y: "condition", x: "gain", fill: "condition", r: 4, tip: { format: { x: pointsText, low: pointsText, high: pointsText } }, channels: { low: "low", high: "high" } }),
    ],
  }), "Accuracy after minus accuracy before on the same test images, " + (target === null ? "overall" : "on class " + classes[target] + ", on the other classes pooled, and overall") + ": the dot is the estimate, the line its " + level + " % percentile interval (" + data.resamples + " bootstrap resamples). An interval that crosses 0 is a gain the test images cannot tell from none.", "transplant-gains", rows);
  const header = ["condition", ...kinds.map((k) => kindLabel(k) + " (pp)")];
  s.append(table(data.gains.map((g) => [g.condition, ...kinds.map((k) => interval(g[k]))]), header));
  const note = document.createElement("p");
  note.className = "caption";
  note.textContent = "The transplant's gain minus each control's, paired (the same resampled images and seeds): above 0 with the interval means the transplant did better than that control.";
  s.append(note);
  s.append(table(data.versusControls.map((d) => ["transplant − " + d.control, ...kinds.map((k) => interval(d[k]))]), header));
}

// The ablation check: the population ablated in the merged model.
{
  const s = section("ablation-check", "Does the knowledge sit in the transplanted units?");
  const c = data.ablationCheck;
  const shown = [data.outcomes[0], data.outcomes[1], { name: "transplanted units ablated", ...c.after }];
  const domain = shown.map((o) => o.name);
  const rows = shown.flatMap((o) => classes.map((cl, k) => ({ class: cl, condition: o.name, accuracy: o.perClass[k] }))).filter((r) => r.accuracy !== null);
  figure(s, Plot.plot({
    width: Math.max(700, classes.length * 80), height: 280, marginLeft: 50, marginBottom: 40,
    fx: { label: "class", domain: classes, padding: 0.15, ticks: classTicks(classes), tickFormat: classTick }, x: { axis: null, domain }, y: { label: "accuracy", domain: [0, 1], grid: true, tickFormat: (v) => Math.round(100 * v) + "%" },
    color: { legend: true, domain, range: domain.map((n) => colours[n]) },
    marks: [Plot.barY(rows, { fx: "class", x: "condition", y: "accuracy", fill: "condition", tip: { format: { y: percentText } } }), Plot.ruleY([0])],
  }), "The transplanted units " + data.transplanted.site + ":" + unitList(data.transplanted.units) + " ablated (outputs forced to 0) in the trained merged model: overall " + pct(c.after.accuracy) + " against " + pct(data.outcomes[1].accuracy) + " after the transplant and " + pct(data.outcomes[0].accuracy) + " before. " + (c.removed === null ? "" : "The ablation takes back " + (100 * c.removed).toFixed(0) + " % of the gain on class " + classes[target] + ". ") + (c.samePredictionsAsBefore ? "Every test prediction is the recipient's own again: the gain lives entirely in the transplanted units." : "Some test predictions differ from the recipient's.") + (data.seeds.length > 1 ? " Means over " + data.seeds.length + " seeds." : ""), "transplant-ablation-check", rows);
}

// The transplanted units' incoming weights.
{
  const s = section("weights", "Incoming weights of the transplanted units");
  const w = data.weights;
  const label = (i) => w.site + ":" + data.transplanted.units[i] + " ← donor " + data.population.site + ":" + data.population.units[i];
  if (w && w.image) {
    const [height, width] = w.image;
    const channels = w.channels;
    // A first conv layer reading several channels: one tile per unit, its kernels side by side, scaled together,
    // a grey column between them.
    const across = channels * (width + 1) - 1;
    const laid = (values) => channels === 1 ? values : Array.from({ length: across * height }, (_, p) => {
      const x = p % across;
      const column = x % (width + 1);
      return column === width ? 0 : values[Math.floor(x / (width + 1)) * width * height + Math.floor(p / across) * width + column];
    });
    const grid = document.createElement("div");
    grid.className = "weights";
    w.values.forEach((values, i) => {
      const tile = document.createElement("div");
      const canvas = weightTile(laid(values), across, height);
      if (channels > 1) {
        const context = canvas.getContext("2d");
        context.fillStyle = "#999";
        for (let c = 1; c < channels; c++) context.fillRect(c * (width + 1) - 1, 0, 1, height);
        canvas.style.height = Math.round((84 * height) / across) + "px";
      }
      canvas.title = label(i);
      canvas.dataset.unit = String(data.transplanted.units[i]);
      tile.append(canvas, w.site + ":" + data.transplanted.units[i]);
      tile.title = label(i);
      grid.append(tile);
    });
    const kernels = channels > 1 ? "Each tile is one transplanted channel's " + channels + " kernels of " + width + "×" + height + ", one per channel of the input image (left to right: its channels 0 to " + (channels - 1) + (channels === 3 ? ", R, G and B for an RGB image" : "") + "; grey columns between them)" : "Each tile is one transplanted channel's " + width + "×" + height + " kernel over the input image";
    figure(s, grid, (w.kernel ? kernels : "Each tile is one transplanted unit's incoming weights in the merged model, arranged as the " + width + "×" + height + " input image") + " (red positive, blue negative, scaled per unit): the donor's weights, copied exactly (rescaled only for the two networks' input normalisations). Labelled with the unit's index in the merged model; hover for the donor unit it came from.", "transplant-weights",
      () => w.values.flatMap((values, i) => values.map((weight, p) => ({ unit: data.transplanted.units[i], donorUnit: data.population.units[i], ...(channels > 1 ? { channel: Math.floor(p / (width * height)) } : {}), pixel: p % (width * height), weight }))));
  } else if (w && w.inputs) {
    const cells = w.values.flatMap((values, i) => values.map((weight, j) => ({ unit: w.site + ":" + data.transplanted.units[i], input: w.inputs.units[j], weight, donor: data.population.site + ":" + data.population.units[i] })));
    const { max } = robustMax(cells.map((c) => c.weight));
    figure(s, Plot.plot({
      width: Math.max(640, Math.min(1050, 80 + 9 * w.inputs.units.length)), height: 60 + 22 * w.values.length, marginLeft: 110, marginBottom: 40,
      x: { label: "branch unit (" + w.inputs.site + ")", domain: w.inputs.units, ticks: unitTicks(w.inputs.units), tickRotate: -90, fontSize: 8 }, y: { label: null, domain: w.values.map((_, i) => w.site + ":" + data.transplanted.units[i]) },
      color: { type: "diverging", scheme: "RdBu", reverse: true, domain: [-max, max], clamp: true, legend: true, label: "incoming weight" },
      marks: [Plot.cell(cells, { x: "input", y: "unit", fill: "weight", tip: true, channels: { donor: "donor" } })],
    }), "The transplanted units read only their upstream branch (the donor's " + data.transplanted.branch.map((x) => x.donorSite).join(", ") + " units, embedded block-diagonally), so each row is one unit's incoming weights from the branch units of " + w.inputs.site + (w.perInput > 1 ? ", each cell the sum of the " + w.perInput + " weights through which it reads that channel (its kernel, or the channel's positions after the flatten: what a channel constant over them feeds the unit)" : "") + " (red positive, blue negative; colours end at the 99th percentile of |weight|): the donor's weights, copied exactly. Not images: these units do not read pixels.", "transplant-weights", cells);
  } else {
    const p = document.createElement("p");
    p.className = "caption";
    p.textContent = "Not drawn: the transplanted units' layer reads neither a one-channel image (a dense layer) nor an image through 2-D kernels (a conv layer), and no branch feeds it.";
    s.append(p);
  }
}
`;
