/**
 * The browser side of the study report, as source text: builds every section from the embedded data (the network and
 * the data, Study B's depth curves, the first conv layer's filters, the per-site sections of SITE_CLIENT under a site
 * picker, the stimulus map, training and recovery); redraws the per-site sections on a site change. The parts run in
 * page order, so the sections appear in the order they are written here.
 */
import { CLIENT_TOOLS } from "./clientTools.js";
import { SITE_CLIENT } from "./siteClient.js";

/** The page-wide names and the sections above the per-site ones. */
const TOP = String.raw`
const data = JSON.parse(document.getElementById("data").textContent);
const main = document.getElementById("report");
const select = document.getElementById("site");
const classes = data.classNames;
const range = (n) => Array.from({ length: n }, (_, i) => i);

/** Under section s: a line "label <select id>", then the holder its figure is drawn into on each change. */
function picker(s, label, id) {
  const controls = document.createElement("div");
  controls.className = "controls";
  controls.append(label);
  const pick = document.createElement("select");
  pick.id = id;
  controls.append(pick);
  s.append(controls);
  const holder = document.createElement("div");
  s.append(holder);
  return { pick, holder };
}
/** A stimulus-map condition's units as the findings name them: "fc1:3", "fc1:3 + fc1:15". */
function conditionUnits(c) {
  return c.units.map((u) => c.site + ":" + u).join(" + ");
}
/** The picker's entry: the units and what ablating them costs overall ("0.34 pp drop"), or gains. */
function conditionLabel(c) {
  return conditionUnits(c) + " (" + (c.delta <= 0 ? (-100 * c.delta).toFixed(2) + " pp drop" : (100 * c.delta).toFixed(2) + " pp gain") + ")";
}
/**
 * A heatmap colour scale clipped at the 99th percentile of |value|, and a mark for the clipped cells. percentPoints:
 * the values are accuracy fractions, shown in percentage points on the legend and in the note, as on the rest of the page.
 */
function clipped(cells, key, diverging, percentPoints = false) {
  const { max, clipped: n } = robustMax(cells.map((c) => c[key]));
  // marginLeft: room for the legend's first tick label ("0.0" was cut to ".0").
  const scale = diverging ? { type: "diverging", scheme: "RdBu", reverse: true, domain: [-max, max], clamp: true, marginLeft: 12 } : { scheme: "viridis", domain: [0, max], clamp: true, marginLeft: 12 };
  // percentPoints: "pp" for a change of accuracy, "%" for a share of images (redundancy); true means "pp".
  const unit = percentPoints === true ? "pp" : percentPoints || null;
  if (unit) scale.tickFormat = pointsTick;
  const at = unit ? (100 * max).toPrecision(3) + " " + unit : max.toPrecision(3);
  const note = (unit ? " (" + unit + ")" : "") + (n > 0 ? " (clipped at " + (diverging ? "±" : "") + at + ", the 99th percentile of |value|; " + n + " cell" + (n > 1 ? "s" : "") + " beyond, marked •)" : "");
  return { scale, note, outliers: cells.filter((c) => c[key] !== null && Math.abs(c[key]) > max) };
}

// The network and data: sites and baseline accuracy per class.
{
  const s = section("network", "The network and the data");
  s.append(table(data.sites.map((site) => [site.name, site.kind, site.units, site.dead.length]), ["site", "kind", "units", "dead units"]));
  const rows = classes.map((c, i) => ({ class: c, accuracy: data.baseline.perClass[i] }));
  const absent = rows.filter((r) => r.accuracy === null).map((r) => r.class);
  figure(s, Plot.plot({
    height: 260, marginLeft: 50, y: { label: "accuracy (%)", domain: [0, 1], grid: true, tickFormat: pointsTick }, x: { label: "class", domain: classes, ticks: classTicks(classes), tickFormat: classTick },
    marks: [
      Plot.barY(rows, { x: "class", y: "accuracy", fill: "#4c78a8", tip: { format: { y: percentText } } }),
      Plot.ruleY([data.baseline.accuracy], { stroke: "#e45756", strokeDasharray: "4 3" }),
      // A class the data has no images of has no accuracy: say so where its bar would be.
      Plot.text(rows.filter((r) => r.accuracy === null), { x: "class", y: 0, text: () => "no samples", rotate: -90, textAnchor: "start", dx: -3, fill: "#666" }),
    ],
  }), "Accuracy of the intact network per class (bars) and overall (" + percentText(data.baseline.accuracy) + ", dashed line). Every effect below is a change from these numbers." + (absent.length ? " " + (absent.length === 1 ? "Class " + absent[0] + " has" : "Classes " + absent.slice(0, -1).join(", ") + " and " + absent[absent.length - 1] + " have") + " no images in the data: no accuracy, and empty cells in every per-class figure below." : ""), "baseline", rows);
}

// Study B (Meyes et al. 2019): cumulative ablation of every site, layer depth as a dimension.
if (data.depth.length > 0) {
  const s = section("depth", "Ablation by layer depth (Study B)");
  const names = data.depth.map((d) => d.site + " (depth " + d.depth + ", " + d.kind + ")");
  const colours = data.depth.map((_, i) => d3.interpolateViridis(data.depth.length === 1 ? 0 : 0.9 * i / (data.depth.length - 1)));
  const { pick, holder } = picker(s, "Accuracy of: ", "depth-class");
  pick.append(new Option("all classes (overall)", ""));
  classes.forEach((c, j) => pick.append(new Option("class " + c, String(j))));
  const repeats = data.depth[0].repeats;
  const draw = () => {
    const j = pick.value === "" ? null : Number(pick.value);
    // The CSV's site column is the site's name, to join with fractions/SITE.csv; the legend's label is a column of its own.
    const rows = data.depth.flatMap((d, i) => (j === null ? d.points : d.perClass[j]).filter((p) => p[1] !== null).map(([fraction, accuracy]) => ({ site: d.site, depth: d.depth, fraction, accuracy, label: names[i] })));
    const f = figure(document.createElement("div"), Plot.plot({
      height: 340, grid: true, marginLeft: 50, color: { legend: true, type: "ordinal", domain: names, range: colours, label: "site (by depth)" },
      x: { label: "fraction of the site's units ablated (random order)", domain: [0, 1] }, y: { label: (j === null ? "accuracy" : "accuracy of class " + classes[j]) + " (%)", domain: [0, 1], tickFormat: pointsTick },
      marks: [Plot.line(rows, { x: "fraction", y: "accuracy", z: "label", stroke: "label", strokeWidth: 1.8, tip: { format: { y: percentText } } }), Plot.dot(rows, { x: "fraction", y: "accuracy", fill: "label", r: 2 })],
    }), "Study B of Meyes et al. 2019: for each site (one line, coloured from dark, nearest the input, to light, nearest the output) the " + (j === null ? "overall accuracy" : "accuracy on class " + classes[j]) + " as growing random fractions of its units (channels of a conv site) are ablated, the mean of " + repeats + " random order" + (repeats > 1 ? "s" : "") + ". Lines that stay high to large fractions show layers with much redundancy; pick a class above to see which layers that class depends on.", "depth" + (j === null ? "" : "-class-" + classes[j]).replace(/[^A-Za-z0-9_.-]/g, "_"), rows);
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
  figure(s, grid, "Each tile is one filter of " + t.site + " (filter 0 first), its " + t.channels + "×" + t.height + "×" + t.width + " kernel drawn as a " + t.height + "×" + t.width + " image: " + (t.channels === 3 ? "red, green and blue are the weights on the input's three channels" : "grey is the weight on the one input channel") + ", each channel scaled on its own symmetrically around 0 (0 mid-grey 128, its largest |weight| 0 or 255)." + (t.channels === 3 ? " A tile of one hue is a colour detector; light and dark stripes are an edge detector." : " Light and dark stripes are an edge detector, a light or dark spot a blob detector."), "filters",
    () => t.pixels.flatMap((bytes, f) => range(t.width * t.height).map((p) => ({ filter: f, y: Math.floor(p / t.width), x: p % t.width, r: bytes[3 * p], g: bytes[3 * p + 1], b: bytes[3 * p + 2] }))));
}
`;

/** The sections below the per-site ones, and the site picker that draws those. */
const BOTTOM = String.raw`
// Stimulus map: coloured by class, or by an ablation's outcome for a condition of the chosen site.
let drawMap = null;
if (data.map) {
  const s = section("stimuli", "Stimulus map");
  const { pick, holder } = picker(s, "Colour: ", "condition");
  const names = ["kept", "lost", "gained", "lost only jointly", "wrong both times"];
  const colours = ["#d9d9d9", "#e45756", "#54a24b", "#b279a2", "#9d755d"];
  const outcomeColours = (joint) => ({ domain: names.filter((_, i) => joint || i !== 3), range: colours.filter((_, i) => joint || i !== 3) });
  const draw = () => {
    const condition = data.map.conditions.find((c) => c.id === pick.value);
    const points = data.map.points.map(([x, y, label], i) => ({ x, y, class: classes[label], outcome: condition ? names[condition.codes[i]] : null }));
    const byClass = !condition;
    // Whether the classes form islands is measured (nearest neighbours of one class), not assumed: on CIFAR-10's pixels they do not.
    const nb = data.map.neighbours;
    const islands = nb.same >= 0.5 && nb.same >= 2 * nb.chance;
    // Coloured by outcome, the class colours are gone: islands keep their class's name at its median point (a trial).
    const centres = islands && !byClass ? classes.flatMap((name) => { const own = points.filter((p) => p.class === name); return own.length === 0 ? [] : [{ x: d3.median(own, (p) => p.x), y: d3.median(own, (p) => p.y), name }]; }) : [];
    const plot = byClass
      // Ten distinct colours up to ten classes (the default ramp made classes 8 and 9 two dark reds).
      ? Plot.plot({ height: 460, color: { legend: true, type: "ordinal", domain: classes, label: "class", scheme: classes.length <= 10 ? "tableau10" : "turbo" }, x: { axis: null }, y: { axis: null }, marks: [Plot.dot(points, { x: "x", y: "y", fill: "class", r: 2.5, tip: true })] })
      : Plot.plot({
        // "lost only jointly" is a pair's outcome: not in the legend of a single unit's condition.
        height: 460, color: { legend: true, ...outcomeColours(condition.codes.includes(3)) }, x: { axis: null }, y: { axis: null },
        marks: [Plot.dot(points.filter((p) => p.outcome === "kept"), { x: "x", y: "y", fill: "outcome", r: 2 }), Plot.dot(points.filter((p) => p.outcome !== "kept"), { x: "x", y: "y", fill: "outcome", r: 3.5, tip: true, channels: { class: "class" } }), Plot.text(centres, { x: "x", y: "y", text: "name", fontSize: 13, fontWeight: "bold", fill: "#333", stroke: "white", strokeWidth: 3, className: "class-name" })],
      });
    const separation = (100 * nb.same).toFixed(0) + " % of the images have their nearest neighbour on the map in their own class (" + (100 * nb.chance).toFixed(0) + " % by chance): " + (islands ? "the classes form islands." : "the classes mix; pixel statistics do not separate them.");
    holder.replaceChildren(figure(document.createElement("div"), plot, "A t-SNE map of " + data.map.points.length + " test images (after PCA to 30 dimensions): nearby images look alike to the pixel statistics. " + separation + " " + (byClass ? "Coloured by class (legend); choose a condition above to colour by what its ablation did to each image." : "Coloured: what ablating " + conditionUnits(condition) + " did to each image (lost: it was right and is now wrong)." + (islands ? " Each class's name sits at its island's median point. Losses gathered on one island show a unit serving one class; scattered losses, a unit serving many." : "")), "stimulus-map" + (condition ? "-" + condition.id.replace(/[^A-Za-z0-9_.-]/g, "_") : ""), points));
  };
  pick.addEventListener("change", draw);
  drawMap = (site) => {
    pick.replaceChildren(new Option("class (no ablation)", ""));
    // Named as the findings name units (fc1:3, fc1:3 + fc1:15) with the drop they cost, not by condition id and signed change.
    for (const c of data.map.conditions.filter((c) => c.site === site.name)) pick.append(new Option(conditionLabel(c), c.id));
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
    pair.append(Plot.plot({ width: 480, height: 240, grid: true, marginLeft: 50, x, y: { label: "test accuracy (%)", tickFormat: pointsTick }, marks: [Plot.line(tested, { x: "epoch", y: "testAccuracy", stroke: "#59a14f" }), Plot.dot(tested, { x: "epoch", y: "testAccuracy", fill: "#59a14f", tip: { format: { y: percentText } } })] }));
  }
  const tested = t.test === null ? "" : t.test === t.data ? " and the accuracy on " + t.test + " after it: the training data itself, so a training accuracy, not a test accuracy" : " and the accuracy on the test set " + t.test + " after it";
  figure(s, pair, "How lesion trained " + t.arch + " on " + t.data + ": the mean training loss of each epoch" + tested + ".", "training", rows);
}

// Recovery.
// Which images it retrained on and was measured on (a trial could not tell from the caption).
const trainedOn = (r) => {
  const train = r.provenance && r.provenance.data;
  const test = r.provenance && r.provenance.otherData && r.provenance.otherData.test;
  return train ? " on " + train.spec + " (" + train.n + " images)" + (test ? ", accuracies measured on " + test.spec + " (" + test.n + " images)" : "") : "";
};
if (data.recovery) {
  const r = data.recovery;
  const s = section("recovery", "Recovery after ablation");
  const rows = [{ epoch: 0, series: "overall", accuracy: r.ablated.accuracy }, ...r.epochs.map((e) => ({ epoch: e.epoch, series: "overall", accuracy: e.accuracy }))];
  const perClass = [r.ablated.perClass, ...r.epochs.map((e) => e.perClass)].flatMap((pc, epoch) => pc.map((a, c) => ({ epoch, series: "class " + classes[c], accuracy: a })));
  const epochs = range(r.epochs.length + 1);
  const control = r.control ?? null;
  const controlRows = control ? [{ epoch: 0, series: "intact retrained (control)", accuracy: r.intact.accuracy }, ...control.map((e) => ({ epoch: e.epoch, series: "intact retrained (control)", accuracy: e.accuracy }))] : [];
  const last = r.epochs[r.epochs.length - 1];
  const summary = last ? " After " + last.epoch + " epoch" + (last.epoch > 1 ? "s" : "") + " the damaged network is at " + percentText(last.accuracy) + " (from " + percentText(r.ablated.accuracy) + "; intact " + percentText(r.intact.accuracy) + "), " + (last.recovered === null ? "" : percentText(last.recovered) + " of the lost accuracy back") + (control ? "; the intact network retrained with the same budget went from " + percentText(r.intact.accuracy) + " to " + percentText(control[control.length - 1].accuracy) + (last.recovered !== null && last.recovered > 1 ? ", so a recovery above 100 % is partly what extra training gives any network." : ": what extra training alone gives.") : ".") : "";
  // A class retraining left below the damaged network (a negative recovery of it) is named: the overall line hides it.
  const worse = last ? classes.flatMap((name, c) => (last.perClass[c] !== null && r.ablated.perClass[c] !== null && last.perClass[c] < r.ablated.perClass[c] ? ["class " + name + " (" + percentText(r.ablated.perClass[c]) + " → " + percentText(last.perClass[c]) + ")"] : [])) : [];
  const worseText = worse.length ? " Retraining left " + worse.join(", ") + " below the damaged network: a negative recovery of " + (worse.length === 1 ? "that class." : "those classes.") : "";
  // Two panels: the overall lines on an axis of their own (under ten class lines near 100 % they could not be told
  // apart, a trial found), with a legend that shows each line's style; the classes beside them.
  const damaged = { label: "ablated, then retrained", stroke: "black", width: 3, dash: null };
  const intactLine = { label: "intact network", stroke: "#777", width: 1.5, dash: "4 3" };
  const controlLine = { label: "intact retrained (control)", stroke: "#d95f02", width: 2, dash: "1 3" };
  const styles = [damaged, intactLine, ...(control ? [controlLine] : [])];
  const overallValues = [...rows, ...controlRows].map((d) => d.accuracy).concat([r.intact.accuracy]);
  const low = Math.min(...overallValues), high = Math.max(...overallValues), pad = Math.max(0.005, (high - low) * 0.08);
  const x = { label: "epochs of retraining", ticks: epochs, tickFormat: "d" };
  const overall = Plot.plot({
    width: 420, height: 300, grid: true, marginLeft: 50, x, y: { label: "overall accuracy (%)", tickFormat: pointsTick, domain: [Math.max(0, low - pad), Math.min(1, high + pad)] },
    marks: [
      Plot.ruleY([r.intact.accuracy], { stroke: intactLine.stroke, strokeWidth: intactLine.width, strokeDasharray: intactLine.dash }),
      ...(control ? [Plot.line(controlRows, { x: "epoch", y: "accuracy", stroke: controlLine.stroke, strokeWidth: controlLine.width, strokeDasharray: controlLine.dash, tip: { format: { y: percentText } } })] : []),
      Plot.line(rows, { x: "epoch", y: "accuracy", stroke: damaged.stroke, strokeWidth: damaged.width }),
      Plot.dot(rows, { x: "epoch", y: "accuracy", fill: damaged.stroke, r: 3, tip: { format: { y: percentText } } }),
    ],
  });
  const legend = document.createElement("div");
  legend.className = "line-legend";
  legend.style.display = "flex"; legend.style.gap = "1rem"; legend.style.font = "12px sans-serif"; legend.style.margin = "0 0 4px 50px";
  for (const st of styles) {
    const item = document.createElement("span");
    item.innerHTML = '<svg width="28" height="10" style="vertical-align:middle;margin-right:4px"><line x1="0" y1="5" x2="28" y2="5" stroke="' + st.stroke + '" stroke-width="' + st.width + '"' + (st.dash ? ' stroke-dasharray="' + st.dash + '"' : "") + "/></svg>";
    item.append(st.label);
    legend.append(item);
  }
  const left = document.createElement("div");
  left.append(legend, overall);
  const byClass = Plot.plot({
    width: 480, height: 322, grid: true, marginLeft: 50, color: { legend: true, type: "ordinal", domain: classes.map((c) => "class " + c), range: classes.map((_, i) => d3.schemeTableau10[i % 10]) }, x, y: { label: "accuracy per class (%)", tickFormat: pointsTick, nice: true },
    marks: [Plot.line(perClass, { x: "epoch", y: "accuracy", stroke: "series", strokeWidth: 1.5, tip: { format: { y: percentText } } })],
  });
  const pair = document.createElement("div");
  pair.style.display = "flex"; pair.style.flexWrap = "wrap"; pair.style.gap = "1rem"; pair.style.alignItems = "flex-end";
  pair.append(left, byClass);
  figure(s, pair, recoveredUnits(r) + " ablated (" + r.mode + ") and the network retrained" + (r.settings ? " (" + r.settings.epochs + " epoch" + (r.settings.epochs === 1 ? "" : "s") + " of " + r.settings.optimizer.toUpperCase() + ", lr " + r.settings.lr + ", batches of " + r.settings.batchSize + ")" : "") + trainedOn(r) + ". First, overall accuracy by epoch: the damaged network (thick black), the intact network (dashed grey)" + (control ? " and the intact network retrained with the same budget (dotted orange, the control)" : "") + "; then the damaged network's accuracy per class. Epoch 0 is the damaged network before retraining." + summary + worseText, "recovery", [...rows, ...perClass, ...controlRows]);
} else {
  // Said, so a reader of the papers does not look for it in vain (a trial's default study had none, without a word).
  const s = section("recovery", "Recovery after ablation");
  const note = document.createElement("p");
  note.textContent = "Not run in this study: lesion study --recover ablates the most damaging population of a site (--recover-site, default the first studied), retrains the network with those units held at zero, and compares it with the intact network retrained alike (a control).";
  s.append(note);
}

// Which units: the study retrains a site's most damaging population (the first studied, or its recover.site) (runs/study.ts), its size said, its units
// listed up to 12 (a trial's was 30 of 32 channels, listed without saying so).
function recoveredUnits(r) {
  const site = data.sites.find((x) => x.name === r.site);
  const listed = r.units.length > 12 ? r.units.slice(0, 12).join(", ") + ", …" : r.units.join(", ");
  // That grouping is not drawn above (the populations' figures show the grouping by activation): its size and its cap
  // are said here (a trial could not find the group, nor that k stopped at --max-k).
  const grouping = site && site.groupings.find((g) => g.by === "impact" && g.method === "hierarchical");
  const k = grouping ? "; " + grouping.k + " populations" + (grouping.capped ? ", the most tried (--max-k): more might score a higher silhouette" : "") : "";
  return "The most damaging population of " + r.site + " (its hierarchical grouping by impact, not drawn above" + k + ": " + r.units.length + (site ? " of " + site.units : "") + " units: " + listed + "; the group's ablation is the most damaging, not necessarily each member's)";
}

for (const site of data.sites) select.append(new Option(site.name + " (" + site.units + " units)", site.name));
select.addEventListener("change", () => drawSite(data.sites.find((s) => s.name === select.value)));
drawSite(data.sites[0]);
`;

/** The study report's client code: CLIENT_TOOLS, then its sections in page order. */
export const STUDY_CLIENT = CLIENT_TOOLS + TOP + SITE_CLIENT + BOTTOM;
