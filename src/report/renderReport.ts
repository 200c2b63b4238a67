/**
 * The report: one self-contained HTML file. Figures are drawn in the browser by Observable Plot (chosen for its
 * grammar of marks with built-in tooltips, small size and no build step; its UMD bundle and d3's are inlined, so the
 * file needs no network and no server). The data are embedded as JSON. Every figure has a caption saying what it
 * shows and how to read it.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { ReportData } from "./reportData.js";

const require = createRequire(import.meta.url);

/** A file of an installed package (found from its entry point: some packages do not export package.json). */
function library(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, "package.json")) || JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name !== pkg) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package folder of ${pkg}`);
    dir = parent;
  }
  return readFileSync(join(dir, file), "utf8");
}

/** `</script>` inside inlined code or data would end the element early. */
function inline(text: string): string {
  return text.replace(/<\/script/gi, "<\\/script");
}

export function renderReport(data: ReportData): string {
  const d3 = library("d3", "dist/d3.min.js");
  const plot = library("@observablehq/plot", "dist/plot.umd.min.js");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lesion study: ${escapeHtml(data.model)} on ${escapeHtml(data.data)}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 2rem 4rem; color: #222; }
  h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; } h3 { margin-bottom: .3rem; }
  figure { margin: 1rem 0 2rem; } figcaption { color: #555; font-size: .9rem; max-width: 860px; }
  table { border-collapse: collapse; font-size: .85rem; } td, th { padding: .15rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .controls { margin: .5rem 0; } select { font: inherit; }
  .weights { display: grid; grid-template-columns: repeat(auto-fill, 64px); gap: 4px; }
  .weights canvas { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ddd; }
</style>
</head>
<body>
<h1>Lesion study of <code>${escapeHtml(data.model)}</code></h1>
<p>Data: <code>${escapeHtml(data.data)}</code> (${data.n} samples). Made by lesion from the result files in this folder; rebuild it with <code>lesion report DIR</code>.</p>
<div class="controls">Site: <select id="site"></select></div>
<main id="report"></main>
<script>${inline(d3)}</script>
<script>${inline(plot)}</script>
<script type="application/json" id="data">${inline(JSON.stringify(data))}</script>
<script>${inline(CLIENT)}</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The browser side: builds every section from the embedded data; redraws the per-site sections on a site change. */
const CLIENT = String.raw`
const data = JSON.parse(document.getElementById("data").textContent);
const main = document.getElementById("report");
const select = document.getElementById("site");
const classes = data.classNames;
const pct = (v) => v === null ? "n/a" : (100 * v).toFixed(2) + "%";

function section(id, title, parent = main) {
  const s = document.createElement("section");
  s.id = id;
  const h = document.createElement("h2");
  h.textContent = title;
  s.append(h);
  parent.append(s);
  return s;
}
function figure(parent, node, caption) {
  const f = document.createElement("figure");
  f.className = "figure";
  f.append(node);
  const c = document.createElement("figcaption");
  c.textContent = caption;
  f.append(c);
  parent.append(f);
  return f;
}
function table(rows, header) {
  const t = document.createElement("table");
  t.innerHTML = "<tr>" + header.map((h) => "<th>" + h + "</th>").join("") + "</tr>" + rows.map((r) => "<tr>" + r.map((v) => "<td>" + v + "</td>").join("") + "</tr>").join("");
  return t;
}

// The network and data: sites and baseline accuracy per class.
{
  const s = section("network", "The network and the data");
  s.append(table(data.sites.map((site) => [site.name, site.kind, site.units, site.dead.length]), ["site", "kind", "units", "dead units"]));
  figure(s, Plot.plot({
    height: 260, marginLeft: 50, y: { label: "accuracy", domain: [0, 1], grid: true }, x: { label: "class", domain: classes },
    marks: [Plot.barY(classes.map((c, i) => ({ class: c, accuracy: data.baseline.perClass[i] })), { x: "class", y: "accuracy", fill: "#4c78a8", tip: true }), Plot.ruleY([data.baseline.accuracy], { stroke: "#e45756", strokeDasharray: "4 3" })],
  }), "Accuracy of the intact network per class (bars) and overall (" + pct(data.baseline.accuracy) + ", dashed line). Every effect below is a change from these numbers.");
}

// Per-site sections live in their own container, so switching sites keeps the page order.
const siteRoot = document.createElement("div");
main.append(siteRoot);
function drawSite(site) {
  siteRoot.replaceChildren();
  const add = (id, title) => section(id, title, siteRoot);
  const position = new Map(site.order.map((u, i) => [u, i]));
  const unitLabel = (u) => site.name + ":" + u;
  const pp = (v) => (100 * v).toFixed(2) + " pp";

  // Findings in words, each checkable in the figures below.
  {
    const s = add("findings", "Findings: " + site.name);
    const f = site.findings;
    const items = [
      f.dead.length ? f.dead.length + " dead unit" + (f.dead.length > 1 ? "s" : "") + " (never active on this data, so ablating " + (f.dead.length > 1 ? "them" : "it") + " changes nothing): " + f.dead.map(unitLabel).join(", ") + "." : "No dead units: every unit is active on some images.",
      "Most class-selective units: " + f.selective.map((x) => unitLabel(x.unit) + " (selectivity " + x.selectivity + ", prefers class " + x.preferred + "; ablating it costs that class " + pp(x.drop) + ")").join("; ") + ".",
      "Units that hit many classes: " + f.broad.map((x) => unitLabel(x.unit) + " (" + x.classes + " classes lose ≥ 0.5 pp; " + pp(x.drop) + " overall)").join("; ") + ".",
      "Most important single units: " + f.important.map((x) => unitLabel(x.unit) + " (" + pp(x.drop) + " overall, " + pp(x.worstDrop) + " on class " + x.worstClass + ")").join("; ") + ".",
      f.redundant ? "Most redundant pairs: " + f.redundant.map((x) => unitLabel(x.units[0]) + " + " + unitLabel(x.units[1]) + " (redundancy " + (100 * x.redundancy).toFixed(2) + "%, accuracy change " + pp(x.delta) + ")").join("; ") + "." : "No pair sweep ran for this site.",
      "What predicts a unit's accuracy drop (Spearman ρ, p): " + f.predictors.map((x) => x.indicator + " " + x.spearman + " (" + x.p + ")").join("; ") + ". No single indicator tells the whole story: compare the scatter plots below.",
    ];
    const list = document.createElement("ul");
    for (const text of items) { const li = document.createElement("li"); li.textContent = text; list.append(li); }
    s.append(list);
  }

  // Ablation heatmap: unit × class, sorted by activation population.
  {
    const s = add("ablation", "Single-unit ablation, class by class: " + site.name);
    const cells = site.impact.flatMap((row, u) => row.map((v, c) => ({ unit: position.get(u), id: unitLabel(u), class: classes[c], drop: v, population: site.population[u] })));
    figure(s, Plot.plot({
      height: 280, marginLeft: 50, width: Math.max(640, site.units * 7 + 80),
      x: { label: "units (sorted by activation population)", ticks: [] }, y: { label: "class", domain: classes },
      color: { type: "diverging", scheme: "RdBu", reverse: true, legend: true, label: "accuracy drop" },
      marks: [Plot.cell(cells, { x: "unit", y: "class", fill: "drop", tip: true, channels: { unit: "id", population: "population" } })],
    }), "Each column is one unit of " + site.name + " ablated alone (output forced to 0); each row a class. Red: that class loses accuracy, blue: it gains. Columns are grouped by the unit's population (similar class-conditional activation), so a block of red shows a population that one class depends on; a column red in many rows is a unit that hits many classes.");
  }

  // Class-conditional activation heatmap.
  {
    const s = add("activation", "Class-conditional activation: " + site.name);
    const cells = site.classMeans.flatMap((row, u) => row.map((v, c) => ({ unit: position.get(u), id: unitLabel(u), class: classes[c], activation: v })));
    figure(s, Plot.plot({
      height: 280, marginLeft: 50, width: Math.max(640, site.units * 7 + 80),
      x: { label: "units (same order as above)", ticks: [] }, y: { label: "class", domain: classes },
      color: { scheme: "viridis", legend: true, label: "mean activation" },
      marks: [Plot.cell(cells, { x: "unit", y: "class", fill: "activation", tip: true, channels: { unit: "id" } })],
    }), "Mean activation of each unit for the images of each class, in the same column order as the ablation heatmap. A bright cell alone in its column is a class-selective unit; dead units are dark columns.");
  }

  // Indicators: scatter plots and the correlation table.
  {
    const s = add("indicators", "What predicts a unit's importance: " + site.name);
    const keys = Object.keys(site.indicators).filter((k) => k !== "impact");
    const rows = Array.from({ length: site.units }, (_, u) => Object.fromEntries([["unit", unitLabel(u)], ...Object.entries(site.indicators).map(([k, v]) => [k, v[u]])]));
    const grid = document.createElement("div");
    grid.style.display = "flex"; grid.style.flexWrap = "wrap"; grid.style.gap = "1rem";
    for (const key of keys) {
      grid.append(Plot.plot({ width: 260, height: 220, marginLeft: 50, grid: true, x: { label: key }, y: { label: "accuracy drop" }, marks: [Plot.dot(rows, { x: key, y: "impact", r: 3, fill: "#4c78a8", tip: true, channels: { unit: "unit" } })] }));
    }
    figure(s, grid, "Each dot is a unit: its overall accuracy drop when ablated alone (vertical) against one indicator (horizontal). If an indicator predicted importance, the dots would line up. The table gives Pearson and Spearman correlations with two-sided p-values for every pair of indicators.");
    s.append(table(site.correlations.map((e) => [e.a + " ~ " + e.b, e.pearson ?? "n/a", e.pearsonP ?? "n/a", e.spearman ?? "n/a", e.spearmanP ?? "n/a"]), ["indicators", "Pearson r", "p", "Spearman ρ", "p"]));
  }

  // Populations: embedding and group ablation effects.
  {
    const s = add("populations", "Functional populations: " + site.name);
    const points = site.embedding.points.map(([x, y], u) => ({ x, y, unit: unitLabel(u), population: site.population[u] < 0 ? "dead" : "P" + site.population[u], impact: site.indicators.impact[u] }));
    figure(s, Plot.plot({
      height: 360, grid: true, color: { legend: true, label: "activation population" }, x: { label: site.embedding.method + " 1" }, y: { label: site.embedding.method + " 2" },
      marks: [Plot.dot(points, { x: "x", y: "y", fill: "population", r: (d) => 3 + 40 * Math.max(0, d.impact ?? 0), tip: true, channels: { unit: "unit", impact: "impact" } })],
    }), "Units placed by the similarity of their class-conditional activation profiles (" + site.embedding.method + "), coloured by activation population (average-linkage clustering on correlation distance, number chosen by silhouette), sized by their single-unit accuracy drop. Agreement with the populations found from ablation profiles: ARI " + site.agreement.ari + ", NMI " + site.agreement.nmi + ".");
    const grouping = site.groupings.find((g) => g.by === "activation" && g.method === "hierarchical");
    const bars = grouping.populations.flatMap((p) => classes.map((c, i) => ({ population: "P" + p.id + " (" + p.units.length + " units)", class: c, change: p.deltaPerClass[i], interaction: p.interaction[i] })));
    figure(s, Plot.plot({
      height: 60 + 36 * grouping.populations.length, marginLeft: 130, x: { label: "class", domain: classes }, y: { label: null },
      color: { type: "diverging", scheme: "RdBu", legend: true, label: "accuracy change" },
      marks: [Plot.cell(bars, { x: "class", y: "population", fill: "change", tip: true, channels: { interaction: "interaction" } })],
    }), "Each population ablated as a group: the accuracy change per class (red: loss). Hover for the interaction: group change minus the sum of its members' single-unit changes; negative means the members cover for each other (redundancy), so the group's loss exceeds what single ablations suggest.");
  }

  // Pairs.
  if (site.pairs) {
    const s = add("pairs", "Pair ablations and redundancy: " + site.name);
    const cells = site.pairs.flatMap(([i, j, delta, redundancy]) => [{ a: i, b: j, delta, redundancy }, { a: j, b: i, delta, redundancy }]);
    figure(s, Plot.plot({
      width: 560, height: 520, marginLeft: 40, x: { label: "unit", ticks: [] }, y: { label: "unit", ticks: [] },
      color: { scheme: "oranges", legend: true, label: "redundancy" },
      marks: [Plot.cell(cells, { x: "a", y: "b", fill: "redundancy", tip: true, channels: { "accuracy change": "delta" } })],
    }), "Every pair of units of " + site.name + " ablated together. Colour: redundancy, the fraction of correctly classified images lost only when both units are ablated and kept when either is ablated alone (class-weighted). Dark cells are pairs that back each other up.");
  }

  // Cumulative curves.
  if (site.curves.length > 0) {
    const s = add("curves", "Cumulative ablation: " + site.name);
    const lines = site.curves.flatMap((c) => c.points.map(([fraction, accuracy]) => ({ fraction, accuracy, order: c.order, series: c.order + " " + c.repeat })));
    figure(s, Plot.plot({
      height: 300, grid: true, color: { legend: true }, x: { label: "fraction of units ablated", domain: [0, 1] }, y: { label: "accuracy", domain: [0, 1] },
      marks: [Plot.line(lines, { x: "fraction", y: "accuracy", z: "series", stroke: "order", tip: true }), Plot.dot(lines, { x: "fraction", y: "accuracy", fill: "order", r: 2 })],
    }), "Accuracy as growing fractions of " + site.name + " are ablated: in random orders (several seeds), most selective units first, and most damaging units first. A network that relies on a few units drops fast in the impact order; a flat random curve shows redundancy.");
  }

  // First-layer weights.
  if (site.weights) {
    const s = add("weights", "Incoming weights of " + site.name + " as images");
    const grid = document.createElement("div");
    grid.className = "weights";
    for (const u of site.order) {
      const values = site.weights.values[u];
      const max = Math.max(1e-9, ...values.map(Math.abs));
      const canvas = document.createElement("canvas");
      canvas.width = site.weights.width; canvas.height = site.weights.height;
      canvas.title = unitLabel(u);
      const ctx = canvas.getContext("2d");
      const image = ctx.createImageData(canvas.width, canvas.height);
      values.forEach((v, i) => {
        const t = v / max;
        image.data.set(t >= 0 ? [255 * (1 - t), 255 * (1 - t), 255, 255] : [255, 255 * (1 + t), 255 * (1 + t), 255], 4 * i);
      });
      ctx.putImageData(image, 0, 0);
      grid.append(canvas);
    }
    figure(s, grid, "Each tile is one unit's incoming weights arranged as the input image (blue positive, red negative, scaled per unit), in the population order above: the pixel patterns each unit looks for.");
  }
}

// Stimulus map coloured by an ablation's outcome.
if (data.map) {
  const s = section("stimuli", "Stimulus map");
  const controls = document.createElement("div");
  controls.className = "controls";
  controls.innerHTML = "Condition: ";
  const pick = document.createElement("select");
  pick.id = "condition";
  for (const c of data.map.conditions) pick.append(new Option(c.id + " (" + (100 * c.delta).toFixed(2) + " pp)", c.id));
  controls.append(pick);
  s.append(controls);
  const holder = document.createElement("div");
  s.append(holder);
  const names = ["kept", "lost", "gained", "lost only jointly", "wrong both times"];
  const draw = () => {
    const condition = data.map.conditions.find((c) => c.id === pick.value);
    const points = data.map.points.map(([x, y, label], i) => ({ x, y, class: classes[label], outcome: condition ? names[condition.codes[i]] : "kept" }));
    holder.replaceChildren(figure(document.createElement("div"), Plot.plot({
      height: 460, color: { legend: true, domain: names, range: ["#d9d9d9", "#e45756", "#54a24b", "#b279a2", "#9d755d"] }, x: { axis: null }, y: { axis: null },
      marks: [Plot.dot(points.filter((p) => p.outcome === "kept"), { x: "x", y: "y", fill: "outcome", r: 2 }), Plot.dot(points.filter((p) => p.outcome !== "kept"), { x: "x", y: "y", fill: "outcome", r: 3.5, tip: true, channels: { class: "class" } })],
    }), "A t-SNE map of " + data.map.points.length + " test images (after PCA to 30 dimensions): nearby images look alike to the pixel statistics, and the classes form islands. Coloured: what the chosen ablation did to each image (lost: it was right and is now wrong). Losses gathered on one island show a unit serving one class; scattered losses, a unit serving many."));
  };
  pick.addEventListener("change", draw);
  draw();
}

// Recovery.
if (data.recovery) {
  const r = data.recovery;
  const s = section("recovery", "Recovery after ablation");
  const rows = [{ epoch: 0, class: "all", accuracy: r.ablated.accuracy }, ...r.epochs.map((e) => ({ epoch: e.epoch, class: "all", accuracy: e.accuracy }))];
  const perClass = [r.ablated.perClass, ...r.epochs.map((e) => e.perClass)].flatMap((pc, epoch) => pc.map((a, c) => ({ epoch, class: classes[c], accuracy: a })));
  figure(s, Plot.plot({
    height: 320, grid: true, color: { legend: true, type: "ordinal", domain: classes }, x: { label: "epochs of retraining" }, y: { label: "accuracy" },
    marks: [Plot.line(perClass, { x: "epoch", y: "accuracy", stroke: "class", strokeOpacity: 0.6, tip: true }), Plot.line(rows, { x: "epoch", y: "accuracy", stroke: "black", strokeWidth: 3 }), Plot.ruleY([r.intact.accuracy], { strokeDasharray: "4 3" })],
  }), "Units " + r.units.join(", ") + " of " + r.site + " ablated (" + r.mode + ") and the network retrained: accuracy per class (thin lines) and overall (thick) by epoch; dashed: the intact network. Epoch 0 is the damaged network before retraining.");
}

for (const site of data.sites) select.append(new Option(site.name + " (" + site.units + " units)", site.name));
select.addEventListener("change", () => drawSite(data.sites.find((s) => s.name === select.value)));
drawSite(data.sites[0]);
`;
