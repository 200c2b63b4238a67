/**
 * The report: one self-contained HTML file. Figures are drawn in the browser by Observable Plot (chosen for its
 * grammar of marks with built-in tooltips, small size and no build step; its UMD bundle and d3's are inlined, so the
 * file needs no network and no server). The data are embedded as JSON. Every figure has a caption saying what it
 * shows and how to read it.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { CLIENT_TOOLS } from "./clientTools.js";
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
  .drawing { display: inline-block; max-width: 100%; } .drawing > .weights { width: 1050px; max-width: 100%; }
  .scatters { display: flex; flex-wrap: wrap; gap: 0 1.5rem; } .scatters figure { width: 300px; margin: .5rem 0; }
  .exports { margin: .2rem 0; } .exports button { font: 12px system-ui, sans-serif; margin-right: .3rem; padding: .1rem .5rem; }
  p.caption { color: #555; font-size: .9rem; max-width: 860px; }
</style>
</head>
<body>
<h1>Lesion study of <code>${escapeHtml(data.model)}</code></h1>
<p>Data: <code>${escapeHtml(data.data)}</code> (${data.n} samples). Made by lesion from the result files in this folder; rebuild it with <code>lesion report DIR</code>.${data.explorer ? ` Ablate units yourself in the <a href="${escapeHtml(data.explorer)}">live explorer</a>.` : ` For a live explorer of this network, <code>lesion explore MODEL --data ${escapeHtml(data.data)} -o DIR/explorer.html</code>, then <code>lesion report DIR</code>.`}</p>
<div class="controls">Site: <select id="site"></select></div>
<main id="report"></main>
${pageScripts(data, CLIENT)}
</body>
</html>
`;
}

/** The scripts at the end of a report page: the inlined plotting libraries, the page's data, its client code. */
export function pageScripts(data: unknown, client: string): string {
  return `<script>${inline(library("d3", "dist/d3.min.js"))}</script>
<script>${inline(library("@observablehq/plot", "dist/plot.umd.min.js"))}</script>
<script type="application/json" id="data">${inline(JSON.stringify(data))}</script>
<script>${inline(client)}</script>`;
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** The browser side: builds every section from the embedded data; redraws the per-site sections on a site change. */
const CLIENT = CLIENT_TOOLS + String.raw`
const data = JSON.parse(document.getElementById("data").textContent);
const main = document.getElementById("report");
const select = document.getElementById("site");
const classes = data.classNames;
const pct = (v) => v === null ? "n/a" : (100 * v).toFixed(2) + "%";
const range = (n) => Array.from({ length: n }, (_, i) => i);

function table(rows, header) {
  const t = document.createElement("table");
  t.innerHTML = "<tr>" + header.map((h) => "<th>" + h + "</th>").join("") + "</tr>" + rows.map((r) => "<tr>" + r.map((v) => "<td>" + v + "</td>").join("") + "</tr>").join("");
  return t;
}
/** A heatmap colour scale clipped at the 99th percentile of |value|, and a mark for the clipped cells. */
function clipped(cells, key, diverging) {
  const { max, clipped: n } = robustMax(cells.map((c) => c[key]));
  const scale = diverging ? { type: "diverging", scheme: "RdBu", reverse: true, domain: [-max, max], clamp: true } : { scheme: "viridis", domain: [0, max], clamp: true };
  const note = n > 0 ? " (clipped at " + (diverging ? "±" : "") + max.toPrecision(3) + ", the 99th percentile of |value|; " + n + " cell" + (n > 1 ? "s" : "") + " beyond, marked •)" : "";
  return { scale, note, outliers: cells.filter((c) => c[key] !== null && Math.abs(c[key]) > max) };
}

// The network and data: sites and baseline accuracy per class.
{
  const s = section("network", "The network and the data");
  s.append(table(data.sites.map((site) => [site.name, site.kind, site.units, site.dead.length]), ["site", "kind", "units", "dead units"]));
  const rows = classes.map((c, i) => ({ class: c, accuracy: data.baseline.perClass[i] }));
  figure(s, Plot.plot({
    height: 260, marginLeft: 50, y: { label: "accuracy", domain: [0, 1], grid: true }, x: { label: "class", domain: classes },
    marks: [Plot.barY(rows, { x: "class", y: "accuracy", fill: "#4c78a8", tip: true }), Plot.ruleY([data.baseline.accuracy], { stroke: "#e45756", strokeDasharray: "4 3" })],
  }), "Accuracy of the intact network per class (bars) and overall (" + pct(data.baseline.accuracy) + ", dashed line). Every effect below is a change from these numbers.", "baseline", rows);
}

// Study B (Meyes et al. 2019): cumulative ablation of every site, layer depth as a dimension.
if (data.depth.length > 0) {
  const s = section("depth", "Ablation by layer depth (Study B)");
  const names = data.depth.map((d) => d.site + " (depth " + d.depth + ", " + d.kind + ")");
  const colours = data.depth.map((_, i) => d3.interpolateViridis(data.depth.length === 1 ? 0 : 0.9 * i / (data.depth.length - 1)));
  const controls = document.createElement("div");
  controls.className = "controls";
  controls.append("Accuracy of: ");
  const pick = document.createElement("select");
  pick.id = "depth-class";
  pick.append(new Option("all classes (overall)", ""));
  classes.forEach((c, j) => pick.append(new Option("class " + c, String(j))));
  controls.append(pick);
  s.append(controls);
  const holder = document.createElement("div");
  s.append(holder);
  const repeats = data.depth[0].repeats;
  const draw = () => {
    const j = pick.value === "" ? null : Number(pick.value);
    const rows = data.depth.flatMap((d, i) => (j === null ? d.points : d.perClass[j]).filter((p) => p[1] !== null).map(([fraction, accuracy]) => ({ site: names[i], depth: d.depth, fraction, accuracy })));
    const f = figure(document.createElement("div"), Plot.plot({
      height: 340, grid: true, marginLeft: 50, color: { legend: true, type: "ordinal", domain: names, range: colours, label: "site (by depth)" },
      x: { label: "fraction of the site's units ablated (random order)", domain: [0, 1] }, y: { label: j === null ? "accuracy" : "accuracy of class " + classes[j], domain: [0, 1] },
      marks: [Plot.line(rows, { x: "fraction", y: "accuracy", z: "site", stroke: "site", strokeWidth: 1.8, tip: true }), Plot.dot(rows, { x: "fraction", y: "accuracy", fill: "site", r: 2 })],
    }), "Study B of Meyes et al. 2019: for each site (one line, coloured from dark, nearest the input, to light, nearest the output) the " + (j === null ? "overall accuracy" : "accuracy on class " + classes[j]) + " as growing random fractions of its units (filters of a conv layer) are ablated, the mean of " + repeats + " random order" + (repeats > 1 ? "s" : "") + ". Lines that stay high to large fractions show layers with much redundancy; pick a class above to see which layers that class depends on.", "depth" + (j === null ? "" : "-class-" + classes[j]).replace(/[^A-Za-z0-9_.-]/g, "_"), rows);
    f.id = "depth-figure";
    f.dataset.sites = data.depth.map((d) => d.site).join(",");
    holder.replaceChildren(f);
  };
  pick.addEventListener("change", draw);
  draw();
}

// Filters of the first conv layer as RGB tiles (each channel scaled symmetrically around 0; see FilterTiles).
if (data.filters) {
  const t = data.filters;
  const s = section("filters", "Filters of the first conv layer: " + t.site);
  const grid = document.createElement("div");
  grid.className = "weights";
  grid.id = "filter-tiles";
  t.pixels.forEach((bytes, f) => {
    const canvas = document.createElement("canvas");
    canvas.width = t.width; canvas.height = t.height;
    canvas.title = t.site + ":" + f;
    canvas.dataset.unit = String(f);
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(t.width, t.height);
    for (let p = 0; p < t.width * t.height; p++) image.data.set([bytes[3 * p], bytes[3 * p + 1], bytes[3 * p + 2], 255], 4 * p);
    ctx.putImageData(image, 0, 0);
    grid.append(canvas);
  });
  figure(s, grid, "Each tile is one filter of " + t.site + " (filter 0 first), its " + t.channels + "×" + t.height + "×" + t.width + " kernel drawn as a " + t.height + "×" + t.width + " image: " + (t.channels === 3 ? "red, green and blue are the weights on the input's three channels" : "grey is the weight on the one input channel") + ", each channel scaled on its own symmetrically around 0 (0 mid-grey 128, its largest |weight| 0 or 255). A tile of one hue is a colour detector; light and dark stripes are an edge detector.", "filters",
    () => t.pixels.flatMap((bytes, f) => range(t.width * t.height).map((p) => ({ filter: f, y: Math.floor(p / t.width), x: p % t.width, r: bytes[3 * p], g: bytes[3 * p + 1], b: bytes[3 * p + 2] }))));
}

// Per-site sections live in their own container, so switching sites keeps the page order.
const siteRoot = document.createElement("div");
main.append(siteRoot);
function drawSite(site) {
  siteRoot.replaceChildren();
  const add = (id, title) => section(id, title, siteRoot);
  const unitLabel = (u) => site.name + ":" + u;
  const pp = (v) => (100 * v).toFixed(2) + " pp";
  const file = (what) => site.name.replace(/[^A-Za-z0-9_.-]/g, "_") + "-" + what;
  const below = site.minActive.below;
  const belowText = below.length + " live unit" + (below.length === 1 ? " is" : "s are") + " active on fewer than " + site.minActive.samples + " images (selectivity undefined, left out)";
  // Unit axes: every unit heatmap labels its columns with unit indices, in the display order.
  const unitAxis = (label) => ({ label, domain: site.order, ticks: unitTicks(site.order), tickRotate: -90, tickSize: 2, fontSize: 8 });
  const cellWidth = Math.max(7, Math.min(12, 900 / site.units));

  // Findings in words, each checkable in the figures below.
  {
    const s = add("findings", "Findings: " + site.name);
    const f = site.findings;
    const items = [
      f.dead.length ? f.dead.length + " dead unit" + (f.dead.length > 1 ? "s" : "") + " (never active on this data, so ablating " + (f.dead.length > 1 ? "them" : "it") + " changes nothing): " + f.dead.map(unitLabel).join(", ") + "." : "No dead units: every unit is active on some images.",
      "Most class-selective units (Morcos et al. 2018; a unit must be active on at least " + site.minActive.samples + " images for its selectivity to be defined): " + (f.selective.length ? f.selective.map((x) => unitLabel(x.unit) + " (selectivity " + x.selectivity + ", prefers class " + x.preferred + "; ablating it costs that class " + pp(x.drop) + ")").join("; ") : "none") + ". " + belowText + (below.length ? ": " + below.map(unitLabel).join(", ") : "") + ".",
      "Units that hit many classes: " + f.broad.map((x) => unitLabel(x.unit) + " (" + x.classes + " classes lose ≥ 0.5 pp; " + pp(x.drop) + " overall)").join("; ") + ".",
      "Most important single units: " + f.important.map((x) => unitLabel(x.unit) + " (" + pp(x.drop) + " overall, " + pp(x.worstDrop) + " on class " + x.worstClass + ")").join("; ") + ".",
      f.redundant ? "Most redundant pairs: " + f.redundant.map((x) => unitLabel(x.units[0]) + " + " + unitLabel(x.units[1]) + " (redundancy " + (100 * x.redundancy).toFixed(2) + "%, accuracy change " + pp(x.delta) + ")").join("; ") + "." : "No pair sweep ran for this site.",
      "What predicts a unit's accuracy drop (Spearman ρ, p): " + f.predictors.map((x) => x.indicator + " " + x.spearman + " (" + x.p + ")").join("; ") + ". No single indicator tells the whole story: compare the scatter plots below.",
    ];
    const list = document.createElement("ul");
    list.id = "findings-list";
    items.forEach((text, i) => { const li = document.createElement("li"); li.textContent = text; if (i === 1) li.dataset.selective = f.selective.map((x) => x.unit).join(","); list.append(li); });
    s.append(list);
  }

  // Ablation heatmap: unit × class, sorted by activation population.
  {
    const s = add("ablation", "Single-unit ablation, class by class: " + site.name);
    const cells = site.impact.flatMap((row, u) => row.map((v, c) => ({ unit: u, class: classes[c], drop: v, population: site.population[u] })));
    const colour = clipped(cells, "drop", true);
    figure(s, Plot.plot({
      height: 300, marginLeft: 50, marginBottom: 45, width: Math.max(640, site.units * cellWidth + 80),
      x: unitAxis("unit (sorted by activation population)"), y: { label: "class", domain: classes },
      color: { ...colour.scale, legend: true, label: "accuracy drop" + colour.note },
      marks: [
        Plot.cell(cells, { x: "unit", y: "class", fill: "drop", tip: true, channels: { unit: { value: (d) => unitLabel(d.unit), label: "unit" }, population: "population" } }),
        Plot.dot(colour.outliers, { x: "unit", y: "class", r: 1.5, fill: "white", stroke: "black", strokeWidth: 0.5 }),
      ],
    }), "Each column is one unit of " + site.name + " ablated alone (output forced to 0), labelled with its index; each row a class. Red: that class loses accuracy, blue: it gains. Columns are grouped by the unit's population (similar class-conditional activation), so a block of red shows a population that one class depends on; a column red in many rows is a unit that hits many classes.", file("ablation"), cells.map((c) => ({ site: site.name, unit: c.unit, class: c.class, drop: c.drop })));
    if (site.ci) {
      const ranked = range(site.units).sort((a, b) => site.indicators.impact[b] - site.indicators.impact[a] || a - b).slice(0, 25);
      const rows = ranked.map((u) => ({ unit: unitLabel(u), drop: site.indicators.impact[u], low: -site.ci.intervals[u][1], high: -site.ci.intervals[u][0], lossChange: site.lossChange[u] }));
      const pair = document.createElement("div");
      pair.style.display = "flex"; pair.style.flexWrap = "wrap"; pair.style.gap = "1rem";
      const x = { label: "unit (largest drop first)", domain: rows.map((r) => r.unit), tickRotate: -45 };
      pair.append(Plot.plot({
        width: 520, height: 260, marginLeft: 55, marginBottom: 60, x, y: { label: "accuracy drop", grid: true, tickFormat: (v) => (100 * v).toFixed(1) + " pp" },
        marks: [Plot.ruleX(rows, { x: "unit", y1: "low", y2: "high", stroke: "#555" }), Plot.dot(rows, { x: "unit", y: "drop", fill: "#e45756", r: 3, tip: true, channels: { "CI low": "low", "CI high": "high" } }), Plot.ruleY([0])],
      }));
      if (rows.some((r) => r.lossChange !== null)) {
        pair.append(Plot.plot({
          width: 520, height: 260, marginLeft: 55, marginBottom: 60, x, y: { label: "loss change (mean cross-entropy)", grid: true },
          marks: [Plot.barY(rows, { x: "unit", y: "lossChange", fill: "#f28e2c", tip: true }), Plot.ruleY([0])],
        }));
      }
      figure(s, pair, "The " + rows.length + " most damaging units of " + site.name + ". Left: overall accuracy drop (dot) with its " + Math.round(100 * site.ci.level) + " % bootstrap confidence interval over the " + data.n + " images (percentile interval of the exact bootstrap distribution, no sampling error); an interval that includes 0 is an effect the data cannot tell from noise. Right: the change of the mean cross-entropy loss beside it (the loss also moves where no prediction flips).", file("drop-ci"), rows);
    }
  }

  // Class-conditional activation heatmap.
  {
    const s = add("activation", "Class-conditional activation: " + site.name);
    const cells = site.classMeans.flatMap((row, u) => row.map((v, c) => ({ unit: u, class: classes[c], activation: v })));
    const colour = clipped(cells, "activation", false);
    figure(s, Plot.plot({
      height: 300, marginLeft: 50, marginBottom: 45, width: Math.max(640, site.units * cellWidth + 80),
      x: unitAxis("unit (same order as above)"), y: { label: "class", domain: classes },
      color: { ...colour.scale, legend: true, label: "mean activation" + colour.note },
      marks: [
        Plot.cell(cells, { x: "unit", y: "class", fill: "activation", tip: true, channels: { unit: { value: (d) => unitLabel(d.unit), label: "unit" } } }),
        Plot.dot(colour.outliers, { x: "unit", y: "class", r: 1.5, fill: "white", stroke: "black", strokeWidth: 0.5 }),
      ],
    }), "Mean activation of each unit for the images of each class, in the same column order as the ablation heatmap. A bright cell alone in its column is a class-selective unit; dead units are dark columns.", file("activation"), cells.map((c) => ({ site: site.name, unit: c.unit, class: c.class, activation: c.activation })));
  }

  // Indicators: one scatter per indicator, and the correlation table.
  {
    const s = add("indicators", "What predicts a unit's importance: " + site.name);
    const keys = Object.keys(site.indicators).filter((k) => k !== "impact");
    const rows = Array.from({ length: site.units }, (_, u) => Object.fromEntries([["unit", unitLabel(u)], ...Object.entries(site.indicators).map(([k, v]) => [k, v[u]])]));
    const grid = document.createElement("div");
    grid.className = "scatters";
    for (const key of keys) {
      const shown = rows.filter((r) => r[key] !== null);
      const missing = site.units - shown.length;
      figure(grid, Plot.plot({ width: 300, height: 230, marginLeft: 50, grid: true, x: { label: key }, y: { label: "accuracy drop" }, marks: [Plot.dot(shown, { x: key, y: "impact", r: 3, fill: "#4c78a8", tip: true, channels: { unit: "unit" } })] }),
        key + " against the single-unit accuracy drop (" + shown.length + " units" + (missing ? "; " + missing + " without a value" + (key === "selectivity" ? ": dead or active on fewer than " + site.minActive.samples + " images" : "") : "") + ").", file("scatter-" + key), shown.map((r) => ({ unit: r.unit, [key]: r[key], impact: r.impact })));
    }
    s.append(grid);
    const note = document.createElement("p");
    note.className = "caption";
    note.textContent = "Each dot is a unit: its overall accuracy drop when ablated alone (vertical) against one indicator (horizontal). If an indicator predicted importance, the dots would line up. The table gives Pearson and Spearman correlations with two-sided p-values for every pair of indicators, over the units where both are defined (n); " + belowText + ".";
    s.append(note);
    s.append(table(site.correlations.map((e) => [e.a + " ~ " + e.b, e.n ?? site.units, e.pearson ?? "n/a", e.pearsonP ?? "n/a", e.spearman ?? "n/a", e.spearmanP ?? "n/a"]), ["indicators", "n", "Pearson r", "p", "Spearman ρ", "p"]));
  }

  // Populations: embedding and group ablation effects.
  {
    const s = add("populations", "Functional populations: " + site.name);
    const points = site.embedding.points.map(([x, y], u) => ({ x, y, unit: unitLabel(u), population: site.population[u] < 0 ? "dead" : "P" + site.population[u], impact: site.indicators.impact[u] }));
    figure(s, Plot.plot({
      height: 360, grid: true, color: { legend: true, label: "activation population" }, x: { label: site.embedding.method + " 1" }, y: { label: site.embedding.method + " 2" },
      marks: [Plot.dot(points, { x: "x", y: "y", fill: "population", r: (d) => 3 + 40 * Math.max(0, d.impact ?? 0), tip: true, channels: { unit: "unit", impact: "impact" } })],
    }), "Units placed by the similarity of their class-conditional activation profiles (" + site.embedding.method + "), coloured by activation population (average-linkage clustering on correlation distance, number chosen by silhouette), sized by their single-unit accuracy drop. Agreement with the populations found from ablation profiles: ARI " + site.agreement.ari + ", NMI " + site.agreement.nmi + ".", file("embedding"), points);
    const grouping = site.groupings.find((g) => g.by === "activation" && g.method === "hierarchical");
    const bars = grouping.populations.flatMap((p) => classes.map((c, i) => ({ population: "P" + p.id + " (" + p.units.length + " units)", class: c, change: p.deltaPerClass[i], interaction: p.interaction[i] })));
    const colour = clipped(bars, "change", true);
    figure(s, Plot.plot({
      height: 60 + 36 * grouping.populations.length, marginLeft: 130, x: { label: "class", domain: classes }, y: { label: null },
      color: { ...colour.scale, reverse: false, legend: true, label: "accuracy change" + colour.note },
      marks: [Plot.cell(bars, { x: "class", y: "population", fill: "change", tip: true, channels: { interaction: "interaction" } }), Plot.dot(colour.outliers, { x: "class", y: "population", r: 2, fill: "white", stroke: "black", strokeWidth: 0.5 })],
    }), "Each population ablated as a group: the accuracy change per class (red: loss). Hover for the interaction: group change minus the sum of its members' single-unit changes; negative means the members cover for each other (redundancy), so the group's loss exceeds what single ablations suggest.", file("populations"), bars);
  }

  // Pairs.
  if (site.pairs) {
    const s = add("pairs", "Pair ablations and redundancy: " + site.name);
    const drop = (u) => site.indicators.impact[u];
    const cells = site.pairs.flatMap(([i, j, delta, redundancy]) => [{ a: i, b: j, delta, redundancy }, { a: j, b: i, delta, redundancy }]);
    const colour = clipped(cells, "redundancy", false);
    const axis = (label) => ({ label, domain: range(site.units), ticks: unitTicks(range(site.units), 25) });
    figure(s, Plot.plot({
      width: 600, height: 560, marginLeft: 45, marginBottom: 40, x: axis("unit"), y: axis("unit"),
      color: { ...colour.scale, scheme: "oranges", legend: true, label: "redundancy" + colour.note },
      marks: [
        Plot.cell(cells, { x: "a", y: "b", fill: "redundancy", tip: true, channels: {
          pair: { value: (d) => unitLabel(d.a) + " + " + unitLabel(d.b), label: "pair" },
          first: { value: (d) => unitLabel(d.a) + " alone: " + pp(drop(d.a)) + " drop", label: "unit a" },
          second: { value: (d) => unitLabel(d.b) + " alone: " + pp(drop(d.b)) + " drop", label: "unit b" },
          joint: { value: (d) => pp(-d.delta) + " drop", label: "both" },
        } }),
        Plot.dot(colour.outliers, { x: "a", y: "b", r: 1.5, fill: "white", stroke: "black", strokeWidth: 0.5 }),
      ],
    }), "Every pair of units of " + site.name + " ablated together; axes give unit indices. Colour: redundancy, the fraction of correctly classified images lost only when both units are ablated and kept when either is ablated alone (class-weighted). Dark cells are pairs that back each other up. Hover a cell for both units' drops alone and together.", file("pairs"),
      site.pairs.map(([i, j, delta, redundancy]) => ({ a: i, b: j, dropA: drop(i), dropB: drop(j), dropJoint: -delta, redundancy })));
    if (site.pairSplit && site.pairSplit.length > 0) {
      const controls = document.createElement("div");
      controls.className = "controls";
      controls.append("Pair: ");
      const pick = document.createElement("select");
      pick.id = "pair-split";
      site.pairSplit.forEach((p, i) => pick.append(new Option(unitLabel(p.units[0]) + " + " + unitLabel(p.units[1]), String(i))));
      controls.append(pick);
      s.append(controls);
      const holder = document.createElement("div");
      s.append(holder);
      const drawSplit = () => {
        const p = site.pairSplit[Number(pick.value)];
        const name = unitLabel(p.units[0]) + " + " + unitLabel(p.units[1]);
        const rows = classes.flatMap((c, j) => p.drop[j] === null ? [] : [
          { class: c, part: "lost only jointly (redundant)", drop: p.redundant[j] ?? 0 },
          { class: c, part: "caused by either unit alone (and the rest)", drop: p.drop[j] - (p.redundant[j] ?? 0) },
        ]);
        holder.replaceChildren(figure(document.createElement("div"), Plot.plot({
          height: 280, marginLeft: 55, x: { label: "class", domain: classes }, y: { label: "accuracy drop", grid: true, tickFormat: (v) => (100 * v).toFixed(1) + " pp" },
          color: { legend: true, domain: ["caused by either unit alone (and the rest)", "lost only jointly (redundant)"], range: ["#4c78a8", "#e45756"] },
          marks: [Plot.barY(rows, { x: "class", y: "drop", fill: "part", tip: true }), Plot.ruleY([0])],
        }), "Pair " + name + " ablated, class by class (Meyes et al. 2019): each bar is the class's accuracy drop under the pair, split into the part lost only jointly (red: images either unit alone keeps, the pair's redundancy) and the rest (blue: what the units cause on their own). Pairs listed by overall redundancy.", file("pair-split"), rows.map((r) => ({ pair: name, ...r }))));
      };
      pick.addEventListener("change", drawSplit);
      drawSplit();
    }
  }

  // Cumulative curves.
  if (site.curves.length > 0) {
    const s = add("curves", "Cumulative ablation: " + site.name);
    const lines = site.curves.flatMap((c) => c.points.map(([fraction, accuracy]) => ({ fraction, accuracy, order: c.order, series: c.order + " " + c.repeat })));
    figure(s, Plot.plot({
      height: 300, grid: true, color: { legend: true }, x: { label: "fraction of units ablated", domain: [0, 1] }, y: { label: "accuracy", domain: [0, 1] },
      marks: [Plot.line(lines, { x: "fraction", y: "accuracy", z: "series", stroke: "order", tip: true }), Plot.dot(lines, { x: "fraction", y: "accuracy", fill: "order", r: 2 })],
    }), "Accuracy as growing fractions of " + site.name + " are ablated: in random orders (several seeds), most selective units first, and most damaging units first. A network that relies on a few units drops fast in the impact order; a flat random curve shows redundancy. In the selectivity order, units without a defined selectivity (dead, or active on fewer than " + site.minActive.samples + " images: " + (below.length + site.dead.length) + " here) come last.", file("curves"), lines);
    if (site.classCurves.length > 0) {
      const rows = site.classCurves.flatMap((c) => c.perClass.flatMap((points, j) => points.map(([fraction, accuracy]) => ({ class: classes[j], col: j % 5, row: Math.floor(j / 5), fraction, accuracy, order: c.order, series: c.order + " " + c.repeat }))));
      figure(s, Plot.plot({
        width: 1000, height: 150 * Math.ceil(classes.length / 5) + 40, grid: true, color: { legend: true }, fx: { axis: null }, fy: { axis: null },
        x: { label: "fraction of units ablated", domain: [0, 1], ticks: 5 }, y: { label: "class accuracy", domain: [0, 1], ticks: 4 },
        marks: [
          Plot.frame({ stroke: "#ddd" }),
          Plot.line(rows, { fx: "col", fy: "row", x: "fraction", y: "accuracy", z: "series", stroke: "order", strokeWidth: 1.2, tip: true, channels: { class: "class" } }),
          Plot.text(classes.map((c, j) => ({ c, col: j % 5, row: Math.floor(j / 5) })), { fx: "col", fy: "row", frameAnchor: "top-right", dx: -4, dy: 4, text: (d) => "class " + d.c }),
        ],
      }), "The same cumulative ablation, class by class: one panel per class with its accuracy under each order. Classes that hold up while others collapse are served by units the orders reach last.", file("class-curves"), rows.map(({ col, row, ...r }) => r));
    }
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
    figure(s, grid, "Each tile is one unit's incoming weights arranged as the input image (blue positive, red negative, scaled per unit), in the population order above: the pixel patterns each unit looks for.", file("weights"),
      () => site.order.flatMap((u) => site.weights.values[u].map((w, p) => ({ unit: u, pixel: p, weight: w }))));
  }
  if (typeof drawMap === "function") drawMap(site);
}

// Stimulus map: coloured by class, or by an ablation's outcome for a condition of the chosen site.
let drawMap = null;
if (data.map) {
  const s = section("stimuli", "Stimulus map");
  const controls = document.createElement("div");
  controls.className = "controls";
  controls.innerHTML = "Colour: ";
  const pick = document.createElement("select");
  pick.id = "condition";
  controls.append(pick);
  s.append(controls);
  const holder = document.createElement("div");
  s.append(holder);
  const names = ["kept", "lost", "gained", "lost only jointly", "wrong both times"];
  const draw = () => {
    const condition = data.map.conditions.find((c) => c.id === pick.value);
    const points = data.map.points.map(([x, y, label], i) => ({ x, y, class: classes[label], outcome: condition ? names[condition.codes[i]] : null }));
    const byClass = !condition;
    const plot = byClass
      ? Plot.plot({ height: 460, color: { legend: true, type: "ordinal", domain: classes, label: "class" }, x: { axis: null }, y: { axis: null }, marks: [Plot.dot(points, { x: "x", y: "y", fill: "class", r: 2.5, tip: true })] })
      : Plot.plot({
        height: 460, color: { legend: true, domain: names, range: ["#d9d9d9", "#e45756", "#54a24b", "#b279a2", "#9d755d"] }, x: { axis: null }, y: { axis: null },
        marks: [Plot.dot(points.filter((p) => p.outcome === "kept"), { x: "x", y: "y", fill: "outcome", r: 2 }), Plot.dot(points.filter((p) => p.outcome !== "kept"), { x: "x", y: "y", fill: "outcome", r: 3.5, tip: true, channels: { class: "class" } })],
      });
    holder.replaceChildren(figure(document.createElement("div"), plot, "A t-SNE map of " + data.map.points.length + " test images (after PCA to 30 dimensions): nearby images look alike to the pixel statistics, and the classes form islands. " + (byClass ? "Coloured by class (legend); choose a condition above to colour by what its ablation did to each image." : "Coloured: what " + condition.id + " did to each image (lost: it was right and is now wrong). Losses gathered on one island show a unit serving one class; scattered losses, a unit serving many."), "stimulus-map" + (condition ? "-" + condition.id.replace(/[^A-Za-z0-9_.-]/g, "_") : ""), points));
  };
  pick.addEventListener("change", draw);
  drawMap = (site) => {
    pick.replaceChildren(new Option("class (no ablation)", ""));
    for (const c of data.map.conditions.filter((c) => c.site === site.name)) pick.append(new Option(c.id + " (" + (100 * c.delta).toFixed(2) + " pp)", c.id));
    draw();
  };
}

// The training curve of a network lesion trained (MODEL.history.json beside the model).
if (data.training) {
  const t = data.training;
  const s = section("training", "Training of the network");
  const rows = t.history.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, testAccuracy: e.testAccuracy }));
  const pair = document.createElement("div");
  pair.style.display = "flex"; pair.style.flexWrap = "wrap"; pair.style.gap = "1rem";
  const x = { label: "epoch", ticks: rows.map((r) => r.epoch), tickFormat: "d" };
  pair.append(Plot.plot({ width: 480, height: 240, grid: true, marginLeft: 50, x, y: { label: "training loss" }, marks: [Plot.line(rows, { x: "epoch", y: "trainLoss" }), Plot.dot(rows, { x: "epoch", y: "trainLoss", tip: true })] }));
  if (rows.some((r) => r.testAccuracy !== null)) {
    const tested = rows.filter((r) => r.testAccuracy !== null);
    pair.append(Plot.plot({ width: 480, height: 240, grid: true, marginLeft: 50, x, y: { label: "test accuracy" }, marks: [Plot.line(tested, { x: "epoch", y: "testAccuracy", stroke: "#59a14f" }), Plot.dot(tested, { x: "epoch", y: "testAccuracy", fill: "#59a14f", tip: true })] }));
  }
  figure(s, pair, "How lesion trained " + t.arch + " on " + t.data + ": the mean training loss of each epoch and, where a test set was given, the test accuracy after it.", "training", rows);
}

// Recovery.
if (data.recovery) {
  const r = data.recovery;
  const s = section("recovery", "Recovery after ablation");
  const rows = [{ epoch: 0, series: "overall", accuracy: r.ablated.accuracy }, ...r.epochs.map((e) => ({ epoch: e.epoch, series: "overall", accuracy: e.accuracy }))];
  const perClass = [r.ablated.perClass, ...r.epochs.map((e) => e.perClass)].flatMap((pc, epoch) => pc.map((a, c) => ({ epoch, series: "class " + classes[c], accuracy: a })));
  const epochs = range(r.epochs.length + 1);
  const domain = [...classes.map((c) => "class " + c), "overall", "intact"];
  const control = r.control ?? null;
  const controlRows = control ? [{ epoch: 0, series: "intact retrained (control)", accuracy: r.intact.accuracy }, ...control.map((e) => ({ epoch: e.epoch, series: "intact retrained (control)", accuracy: e.accuracy }))] : [];
  const last = r.epochs[r.epochs.length - 1];
  const summary = last ? " After " + last.epoch + " epoch" + (last.epoch > 1 ? "s" : "") + " the damaged network is at " + pct(last.accuracy) + " (from " + pct(r.ablated.accuracy) + "; intact " + pct(r.intact.accuracy) + "), " + (last.recovered === null ? "" : pct(last.recovered) + " of the lost accuracy back") + (control ? "; the intact network retrained with the same budget went from " + pct(r.intact.accuracy) + " to " + pct(control[control.length - 1].accuracy) + (last.recovered !== null && last.recovered > 1 ? ", so a recovery above 100 % is partly what extra training gives any network." : ": what extra training alone gives.") : ".") : "";
  if (control) domain.push("intact retrained (control)");
  const range10 = ["#4e79a7", "#f28e2c", "#e15759", "#76b7b2", "#59a14f", "#edc949", "#af7aa1", "#ff9da7", "#9c755f", "#bab0ab"];
  const colours = [...classes.map((_, i) => range10[i % 10]), "black", "#777", "#1f77b4"];
  figure(s, Plot.plot({
    height: 340, grid: true, color: { legend: true, type: "ordinal", domain, range: colours }, x: { label: "epochs of retraining", ticks: epochs, tickFormat: "d" }, y: { label: "accuracy" },
    marks: [
      Plot.line(perClass, { x: "epoch", y: "accuracy", stroke: "series", strokeOpacity: 0.6, tip: true }),
      Plot.line(rows, { x: "epoch", y: "accuracy", stroke: "series", strokeWidth: 3 }),
      Plot.line(controlRows, { x: "epoch", y: "accuracy", stroke: "series", strokeWidth: 2, strokeDasharray: "1 3" }),
      Plot.ruleY([{ accuracy: r.intact.accuracy, series: "intact" }], { y: "accuracy", stroke: "series", strokeDasharray: "4 3" }),
    ],
  }), "Units " + r.units.join(", ") + " of " + r.site + " ablated (" + r.mode + ") and the network retrained: accuracy per class (thin lines) and overall (thick black) by epoch; dashed grey: the intact network. Epoch 0 is the damaged network before retraining." + (control ? " Dotted blue: the intact network retrained with the same budget (the control)." : "") + summary, "recovery", [...rows, ...perClass, ...controlRows]);
}

for (const site of data.sites) select.append(new Option(site.name + " (" + site.units + " units)", site.name));
select.addEventListener("change", () => drawSite(data.sites.find((s) => s.name === select.value)));
drawSite(data.sites[0]);
`;
