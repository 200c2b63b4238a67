/**
 * The study report's per-site sections, as browser source text (the part of STUDY_CLIENT that `drawSite(site)` draws
 * and redraws when the reader picks another site): findings in words, single-unit ablation class by class with its
 * bootstrap intervals, class-conditional activation, the indicators against the accuracy drop, functional
 * populations (Meyes et al. 2020), pair ablations and redundancy (Meyes et al. 2019), cumulative ablation curves and
 * first-layer weights. It uses the page's shared names (`data`, `classes`, `main`, `clipped`, `range`) and the
 * helpers of CLIENT_TOOLS.
 */
export const SITE_CLIENT = String.raw`
// The indicators' scatter axes in words (README: Characterisation); the captions and files keep the field names.
const INDICATOR_LABELS = {
  magnitude: "magnitude: mean |activation|",
  selectivity: "class selectivity (Morcos et al.)",
  fractionActive: "fraction of images where active",
  weightL1: "incoming weights' L1 norm",
  weightL2: "incoming weights' L2 norm",
  weightChange: "incoming weights' change from initial (L2)",
  mannWhitneyU: "Mann–Whitney U, trained vs initial weights",
  mannWhitneyP: "Mann–Whitney p, trained vs initial weights",
};
// Per-site sections live in their own container, so switching sites keeps the page order.
const siteRoot = document.createElement("div");
main.append(siteRoot);
function drawSite(site) {
  siteRoot.replaceChildren();
  const add = (id, title) => section(id, title, siteRoot);
  const unitLabel = (u) => site.name + ":" + u;
  // One notation for p-values: 0.00002755 had stood beside 3.248e-11 (JavaScript's own switch at 1e-6).
  const pText = (p) => (p === null ? "n/a" : p < 1e-3 ? p.toExponential(1) : String(+p.toPrecision(2)));
  const file = (what) => site.name.replace(/[^A-Za-z0-9_.-]/g, "_") + "-" + what;
  const below = site.minActive.below;
  const belowText = below.length === 0 ? "every live unit is active on at least " + site.minActive.samples + " images" : below.length + " live unit" + (below.length === 1 ? " is" : "s are") + " active on fewer than " + site.minActive.samples + " images (selectivity undefined, left out)";
  // Unit axes: every unit heatmap labels its columns with unit indices, in the display order.
  const unitAxis = (label) => ({ label, domain: site.order, ticks: unitTicks(site.order), tickRotate: -90, tickSize: 2, fontSize: 8 });
  const cellWidth = Math.max(7, Math.min(12, 900 / site.units));
  // Room for the longest class name on a class axis (CIFAR-10's "automobile" was cut at 50 px): ~6.5 px a character.
  const classMargin = Math.max(50, 16 + 6.5 * Math.max(...classes.map((c) => String(c).length)));
  // A unit × class heatmap of cells[key] (columns in the display order), its colours clipped (clipped()).
  // Where each activation population starts in the display order, named above its first column (the columns are
  // grouped by population; a report review found nothing on the heatmap said where one ended).
  const populationStarts = site.order.flatMap((u, i) => (i === 0 || site.population[u] !== site.population[site.order[i - 1]] ? [{ unit: u, label: site.population[u] < 0 ? "dead" : "P" + site.population[u] }] : []));
  const mapWidth = Math.max(640, Math.min(1400, site.units * cellWidth) + 30 + classMargin);
  // A column's width: the population ticks sit on the boundary, half a column left of the first unit's centre.
  const columnWidth = (mapWidth - classMargin - 20) / site.units;
  const unitClassMap = (cells, key, diverging, xLabel, colourLabel, channels, percentPoints = false) => {
    const colour = clipped(cells, key, diverging, percentPoints);
    return Plot.plot({
      // At most 1,400 px of columns: a 1000-unit site at 7 px a column was 7,000 px wide, shrunk to a 30 px strip.
      height: 310, marginTop: 30, marginLeft: classMargin, marginRight: 20, marginBottom: 45, width: mapWidth,
      x: unitAxis(xLabel), y: { label: "class", domain: classes, ticks: classTicks(classes), tickFormat: classTick },
      color: { ...colour.scale, legend: true, label: colourLabel + colour.note },
      marks: [
        // The value in the tip under its own label and unit: the colour's label with its clipping note had cut the
        // line (and the value) short, and a drop read 0.33 for 33 pp.
        Plot.cell(cells, { x: "unit", y: "class", fill: key, tip: { format: { fill: false } }, channels: { unit: { value: (d) => unitLabel(d.unit), label: "unit" }, shown: { value: (d) => (percentPoints ? pointsText(d[key]) : d[key] === null ? "n/a" : (+d[key]).toFixed(3)), label: colourLabel }, ...channels } }),
        Plot.dot(colour.outliers, { x: "unit", y: "class", r: 1.5, fill: "white", stroke: "black", strokeWidth: 0.5 }),
        Plot.tickX(populationStarts, { x: "unit", y: null, stroke: "#333", strokeWidth: 1, dx: -columnWidth / 2, insetTop: -8, insetBottom: 0 }),
        Plot.text(populationStarts, { x: "unit", frameAnchor: "top", dy: -12, textAnchor: "start", dx: 2 - columnWidth / 2, text: "label", fontSize: 9 }),
      ],
    });
  };

  // Findings in words, each checkable in the figures below.
  {
    const s = add("findings", "Findings: " + site.name);
    const f = site.findings;
    const items = [
      f.dead.length ? f.dead.length + " dead unit" + (f.dead.length > 1 ? "s" : "") + " (exactly 0 on every image of this data, so ablating " + (f.dead.length > 1 ? "them" : "it") + " changes nothing): " + f.dead.map(unitLabel).join(", ") + "." : "No dead units: every unit is active on some images.",
      "Most class-selective units (Morcos et al. 2018; a unit must be active on at least " + site.minActive.samples + " images for its selectivity to be defined): " + (f.selective.length ? f.selective.map((x) => unitLabel(x.unit) + " (selectivity " + x.selectivity + ", prefers class " + x.preferred + "; ablating it " + (x.drop >= 0 ? "costs that class " + pointsText(x.drop) : "raises that class's accuracy by " + pointsText(-x.drop)) + ")").join("; ") : "none") + ". " + belowText[0].toUpperCase() + belowText.slice(1) + (below.length ? ": " + below.map(unitLabel).join(", ") : "") + ".",
      "Units that hit many classes: " + f.broad.map((x) => unitLabel(x.unit) + " (" + x.classes + (x.classes === 1 ? " class loses" : " classes lose") + " ≥ 0.5 pp; " + pointsText(x.drop) + " overall)").join("; ") + ".",
      "Most important single units: " + f.important.map((x) => unitLabel(x.unit) + " (" + pointsText(x.drop) + " overall, " + pointsText(x.worstDrop) + " on class " + x.worstClass + ")").join("; ") + ".",
      // The definition once, then each pair (it had been repeated after every pair, with an unclear "it").
      f.redundant ? "Most redundant pairs (redundancy: of the images the network gets right, the share lost only when both units are ablated, not when either is alone, averaged over classes by their size): " + f.redundant.map((x) => unitLabel(x.units[0]) + " + " + unitLabel(x.units[1]) + " (" + (100 * x.redundancy).toFixed(2) + " %; ablating both " + (x.delta <= 0 ? "costs " + pointsText(-x.delta) : "raises accuracy by " + pointsText(x.delta)) + " overall)").join("; ") + "." : "No pair sweep ran for this site.",
      // An indicator that is the same for every unit (a conv site's fraction active: every channel is > 0 somewhere on
      // every image) has no correlation: named as such, not as "null (null)".
      "What predicts a unit's accuracy drop (Spearman ρ, p): " + f.predictors.map((x) => x.indicator + " " + (x.spearman === null ? "n/a (the same for every unit)" : x.spearman + " (" + pText(x.p) + ")") + (x.live ? ", live units " + (x.live.spearman === null ? "n/a" : x.live.spearman + " (" + pText(x.live.p) + ")") : "")).join("; ") + "." + (f.dead.length > 0 ? " Over all units, the " + f.dead.length + " dead ones included (no drop, at the floor of most indicators), which can make a correlation of their own; \"live units\" leaves them out." : "") + " No single indicator tells the whole story: compare the scatter plots below.",
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
    figure(s, unitClassMap(cells, "drop", true, "unit (sorted by activation population)", "accuracy drop", { population: "population" }, true), "Each column is one unit of " + site.name + " ablated alone (output forced to 0), labelled with its index (only some where the columns are narrow; hover a cell for its unit); each row a class. Red: that class loses accuracy, blue: it gains. Columns are grouped by the unit's population (similar class-conditional activation), so a block of red shows a population that one class depends on; a column red in many rows is a unit that hits many classes.", file("ablation"), cells.map((c) => ({ site: site.name, unit: c.unit, class: c.class, drop: c.drop })));
    if (site.ci) {
      // Units whose ablation costs accuracy, most first (not padded with units that cost nothing).
      const ordered = range(site.units).sort((a, b) => site.indicators.impact[b] - site.indicators.impact[a] || a - b);
      const costly = ordered.filter((u) => site.indicators.impact[u] > 0);
      const ranked = (costly.length > 0 ? costly : ordered).slice(0, 25);
      // A unit without an interval has no rule (its dot stays).
      const rows = ranked.map((u) => { const ci = site.ci.intervals[u]; return { unit: unitLabel(u), drop: site.indicators.impact[u], low: ci ? -ci[1] : null, high: ci ? -ci[0] : null, lossChange: site.lossChange[u] }; });
      const pair = document.createElement("div");
      pair.style.display = "flex"; pair.style.flexWrap = "wrap"; pair.style.gap = "1rem";
      const x = { label: "unit (largest drop first)", domain: rows.map((r) => r.unit), tickRotate: -45 };
      // Room for the rotated labels ("features.25:43") above the axis title; the drop axis ends on a tick, so that no
      // interval runs into the plot's top edge.
      const marginBottom = 30 + Math.ceil(4.5 * Math.max(...rows.map((r) => String(r.unit).length)));
      pair.append(Plot.plot({
        width: 520, height: 200 + marginBottom, marginLeft: 55, marginBottom, x, y: { label: "accuracy drop", grid: true, nice: true, tickFormat: (v) => pointsTick(v) + " pp" },
        marks: [Plot.ruleX(rows, { x: "unit", y1: "low", y2: "high", stroke: "#555" }), Plot.dot(rows, { x: "unit", y: "drop", fill: "#e45756", r: 3, tip: { format: { y: pointsText, "CI low": pointsText, "CI high": pointsText } }, channels: { "CI low": "low", "CI high": "high" } }), Plot.ruleY([0])],
      }));
      if (rows.some((r) => r.lossChange !== null)) {
        pair.append(Plot.plot({
          width: 520, height: 200 + marginBottom, marginLeft: 55, marginBottom, x, y: { label: "loss change (mean cross-entropy)", grid: true },
          marks: [Plot.barY(rows, { x: "unit", y: "lossChange", fill: "#f28e2c", tip: true }), Plot.ruleY([0])],
        }));
      }
      figure(s, pair, "The " + rows.length + " most damaging units of " + site.name + (costly.length > 0 && costly.length < 25 ? " (every unit whose ablation lowers accuracy)" : "") + ". Left: overall accuracy drop (dot) with its " + Math.round(100 * site.ci.level) + " % bootstrap confidence interval over the " + data.n + " images (percentile interval of the exact bootstrap distribution, no sampling error); an interval that includes 0 is an effect the data cannot tell from noise. Right: the change of the mean cross-entropy loss beside it (the loss also moves where no prediction flips).", file("drop-ci"), rows);
    }
  }

  // Class-conditional activation heatmap.
  {
    const s = add("activation", "Class-conditional activation: " + site.name);
    const cells = site.classMeans.flatMap((row, u) => row.map((v, c) => ({ unit: u, class: classes[c], activation: v })));
    // A signed activation (Tanh, GELU, a layer without one) gets a scale centred on 0: on 0..max its negative means
    // had looked like a dead unit's.
    const signed = cells.some((c) => c.activation < 0);
    const reading = signed ? " The activation takes negative values here: red cells are above 0, blue below, pale near 0; a unit pale in every row is silent on this data." : " A bright cell alone in its column is a class-selective unit; dead units are dark columns.";
    figure(s, unitClassMap(cells, "activation", signed, "unit (same order as above)", "mean activation", {}), "Mean activation of each unit for the images of each class, in the same column order as the ablation heatmap." + reading, file("activation"), cells.map((c) => ({ site: site.name, unit: c.unit, class: c.class, activation: c.activation })));
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
      figure(grid, Plot.plot({ width: 300, height: 230, marginLeft: 50, grid: true, x: key === "impactMaxClass" ? { label: "largest class drop (pp)", tickFormat: pointsTick } : { label: INDICATOR_LABELS[key] ?? key, ticks: 4 }, y: { label: "accuracy drop (pp)", tickFormat: pointsTick }, marks: [Plot.dot(shown, { x: key, y: "impact", r: 3, fill: "#4c78a8", tip: { format: { y: pointsText, ...(key === "impactMaxClass" ? { x: pointsText } : {}) } }, channels: { unit: "unit" } })] }),
        key + " against the single-unit accuracy drop (" + shown.length + " units" + (missing ? "; " + missing + " without a value" + (key === "selectivity" ? ": dead or active on fewer than " + site.minActive.samples + " images" : "") : "") + ").", file("scatter-" + key), shown.map((r) => ({ unit: r.unit, [key]: r[key], impact: r.impact })));
    }
    s.append(grid);
    const note = document.createElement("p");
    note.className = "caption";
    note.textContent = "Each dot is a unit: its overall accuracy drop when ablated alone (vertical) against one indicator (horizontal). If an indicator predicted importance, the dots would line up. The table gives Pearson and Spearman correlations with two-sided p-values for every pair of indicators, over the units where both are defined (n); " + belowText + ".";
    s.append(note);
    // The rows that answer the section's question (what goes with the drop) first, then the indicators among themselves.
    const withImpact = (e) => e.a === "impact" || e.b === "impact";
    // One format for every p-value, two significant digits (a review found 1.32e-10 beside 0.0003288 and 0.000002398).
    const pValue = (p) => (p === null || p === undefined ? "n/a" : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2));
    s.append(table([...site.correlations.filter(withImpact), ...site.correlations.filter((e) => !withImpact(e))].map((e) => [e.a + " ~ " + e.b, e.n ?? site.units, e.pearson ?? "n/a", pValue(e.pearsonP), e.spearman ?? "n/a", pValue(e.spearmanP)]), ["indicators", "n", "Pearson r", "p", "Spearman ρ", "p"]));
  }

  // Populations: embedding and group ablation effects.
  {
    const s = add("populations", "Functional populations: " + site.name);
    const points = site.embedding.points.map(([x, y], u) => ({ x, y, unit: unitLabel(u), population: site.population[u] < 0 ? "dead" : "P" + site.population[u], impact: site.indicators.impact[u] }));
    const unplaced = points.filter((p) => p.x === null).length;
    // Only the placed units: the legend names no population the map does not show (the dead, which t-SNE cannot place).
    const placed = points.filter((p) => p.x !== null).map((p) => ({ ...p, drop: Math.max(0, p.impact ?? 0) }));
    const largest = placed.reduce((a, b) => (b.drop > a.drop ? b : a), placed[0] ?? { drop: 0, unit: "" });
    figure(s, Plot.plot({
      height: 360, grid: true, inset: 12, color: { legend: true, label: "activation population", domain: [...new Set(placed.map((p) => p.population))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })) },
      r: { type: "sqrt", domain: [0, Math.max(largest.drop, 1e-9)], range: [2, 9] },
      x: { label: site.embedding.method + " 1" }, y: { label: site.embedding.method + " 2" },
      marks: [Plot.dot(placed, { x: "x", y: "y", fill: "population", r: "drop", tip: { format: { r: false } }, channels: { unit: "unit", shown: { value: (d) => pointsText(d.drop), label: "accuracy drop" } } })],
    }), "Units placed by the similarity of their class-conditional activation profiles (" + site.embedding.method + "), coloured by activation population (average-linkage clustering on correlation distance, number chosen by silhouette), sized by their single-unit accuracy drop (area; the largest dot " + largest.unit + ", " + pointsText(largest.drop) + "). Agreement with the populations found from ablation profiles: ARI " + site.agreement.ari + ", NMI " + site.agreement.nmi + " (adjusted Rand index and normalised mutual information: 1 for the same grouping, about 0 for groupings no more alike than chance)." + (unplaced ? " Not shown: " + unplaced + " unit" + (unplaced === 1 ? "" : "s") + " with the same mean activation for every class (dead on this data), which t-SNE cannot place." : ""), file("embedding"), points);
    const grouping = site.groupings.find((g) => g.by === "activation" && g.method === "hierarchical");
    // Drops, as the single-unit heatmap shows them (red: a loss, the same sign and colours there and here); a class
    // without images stays null, not −0.
    const negated = (v) => (v === null ? null : -v);
    const bars = grouping.populations.flatMap((p) => classes.map((c, i) => ({ population: "P" + p.id + " (" + p.units.length + " units)", class: c, drop: negated(p.deltaPerClass[i]), beyondSingles: negated(p.interaction[i]) })));
    const colour = clipped(bars, "drop", true, true);
    figure(s, Plot.plot({
      height: 60 + 36 * grouping.populations.length, marginLeft: 130, x: { label: "class", domain: classes, ticks: classTicks(classes), tickFormat: classTick }, y: { label: null },
      color: { ...colour.scale, legend: true, label: "accuracy drop" + colour.note },
      marks: [Plot.cell(bars, { x: "class", y: "population", fill: "drop", tip: { format: { shown: true, fill: false, beyondSingles: pointsText } }, channels: { shown: { value: (d) => pointsText(d.drop), label: "accuracy drop" }, beyondSingles: { value: "beyondSingles", label: "drop beyond the singles' sum" } } }), Plot.dot(colour.outliers, { x: "class", y: "population", r: 2, fill: "white", stroke: "black", strokeWidth: 0.5 })],
    }), "Each population ablated as a group: the accuracy drop per class (red: loss, as in the single-unit heatmap). Hover for the drop beyond the sum of its members' single-unit drops: positive means the members cover for each other (redundancy), so the group's loss exceeds what single ablations suggest (characterize's summary.json stores it as the populations' interaction, with the opposite sign: a change in accuracy)." + (grouping.capped ? " " + grouping.k + " populations is the most tried (--max-k): more might score a higher silhouette." : ""), file("populations"), bars);
  }

  // Pairs.
  if (site.pairs) {
    const s = add("pairs", "Pair ablations and redundancy: " + site.name);
    const drop = (u) => site.indicators.impact[u];
    const cells = site.pairs.flatMap(([i, j, delta, redundancy]) => [{ a: i, b: j, delta, redundancy }, { a: j, b: i, delta, redundancy }]);
    // The whole range on a square-root scale, not clipped at the 99th percentile: redundancy is heavy-tailed, and
    // clipping at ~1 % of 9,900 cells painted the top pairs as ~100 others (a report review).
    const most = Math.max(1e-9, ...cells.map((c) => c.redundancy ?? 0));
    // In the display order of the heatmaps above (populations together), so a block of redundant pairs reads as one.
    const axis = (label) => ({ label: label + " (same order as above)", domain: site.order, ticks: unitTicks(site.order, 25), tickRotate: label === "unit a" ? -90 : 0, tickSize: 2, fontSize: 8 });
    figure(s, Plot.plot({
      width: 600, height: 560, marginLeft: 45, marginBottom: 45, x: axis("unit a"), y: axis("unit b"),
      color: { type: "sqrt", scheme: "oranges", domain: [0, most], legend: true, label: "redundancy (%, square-root scale)", tickFormat: pointsTick, marginLeft: 12 },
      marks: [
        Plot.cell(cells, { x: "a", y: "b", fill: "redundancy", tip: { format: { fill: percentText } }, channels: {
          pair: { value: (d) => unitLabel(d.a) + " + " + unitLabel(d.b), label: "pair" },
          first: { value: (d) => unitLabel(d.a) + " alone: " + pointsText(drop(d.a)) + " drop", label: "unit a" },
          second: { value: (d) => unitLabel(d.b) + " alone: " + pointsText(drop(d.b)) + " drop", label: "unit b" },
          joint: { value: (d) => pointsText(-d.delta) + " drop", label: "both" },
        } }),
      ],
    }), "Every pair of units of " + site.name + " ablated together; axes give unit indices, in the heatmaps' order. Colour: redundancy, the share (%) of correctly classified images lost only when both units are ablated and kept when either is ablated alone (class-weighted). Dark cells are pairs that back each other up. Hover a cell for both units' drops alone and together.", file("pairs"),
      site.pairs.map(([i, j, delta, redundancy]) => ({ a: i, b: j, dropA: drop(i), dropB: drop(j), dropJoint: -delta, redundancy })));
    if (site.pairSplit && site.pairSplit.length > 0) {
      const { pick, holder } = picker(s, "Pair: ", "pair-split");
      site.pairSplit.forEach((p, i) => pick.append(new Option(unitLabel(p.units[0]) + " + " + unitLabel(p.units[1]), String(i))));
      const drawSplit = () => {
        const p = site.pairSplit[Number(pick.value)];
        const name = unitLabel(p.units[0]) + " + " + unitLabel(p.units[1]);
        const rows = classes.flatMap((c, j) => p.drop[j] === null ? [] : [
          { class: c, part: "lost only jointly (redundant)", drop: p.redundant[j] ?? 0 },
          { class: c, part: "lost also to either unit alone, less images gained", drop: p.drop[j] - (p.redundant[j] ?? 0) },
        ]);
        holder.replaceChildren(figure(document.createElement("div"), Plot.plot({
          height: 280, marginLeft: 55, x: { label: "class", domain: classes, ticks: classTicks(classes), tickFormat: classTick }, y: { label: "accuracy drop", grid: true, tickFormat: (v) => pointsTick(v) + " pp" },
          color: { legend: true, domain: ["lost also to either unit alone, less images gained", "lost only jointly (redundant)"], range: ["#4c78a8", "#e45756"] },
          marks: [Plot.barY(rows, { x: "class", y: "drop", fill: "part", tip: { format: { y: pointsText } } }), Plot.ruleY([0])],
        }), "Pair " + name + " ablated, class by class (Meyes et al. 2019): each bar is the class's accuracy drop under the pair, split into the part lost only jointly (red: images either unit alone keeps, the pair's redundancy, here as a share of all the class's images in pp: redundancy.npy's share of the correctly classified ones × the class's intact accuracy) and the rest (blue: images that either unit alone also loses, less the images the pair gets right that the intact network got wrong). Pairs listed by overall redundancy.", file("pair-split"), rows.map((r) => ({ pair: name, ...r }))));
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
      height: 300, grid: true, color: { legend: true }, x: { label: "fraction of units ablated", domain: [0, 1] }, y: { label: "accuracy (%)", domain: [0, 1], tickFormat: pointsTick },
      marks: [Plot.line(lines, { x: "fraction", y: "accuracy", z: "series", stroke: "order", tip: { format: { y: percentText } } }), Plot.dot(lines, { x: "fraction", y: "accuracy", fill: "order", r: 2 })],
    }), "Accuracy as growing fractions of " + site.name + " are ablated: in random orders (random: " + site.curves.filter((c) => c.order === "random").length + " orders, one line each), most selective units first (selectivity), and most damaging units first (impact). A network that relies on a few units drops fast in the impact order; a flat random curve shows redundancy. In the selectivity order, units without a defined selectivity (dead, or active on fewer than " + site.minActive.samples + " images: " + (below.length + site.dead.length) + " here) come last.", file("curves"), lines);
    if (site.classCurves.length > 0) {
      // The classes the whole layer's ablation leaves right on (nearly) every image: the constant output's class.
      const whole = [...new Set(site.classCurves.flatMap((c) => c.perClass.flatMap((points, j) => points.some(([f, a]) => f === 1 && a !== null && a >= 0.99) ? ["class " + classes[j]] : [])))];
      const rows = site.classCurves.flatMap((c) => c.perClass.flatMap((points, j) => points.map(([fraction, accuracy]) => ({ class: classes[j], col: j % 5, row: Math.floor(j / 5), fraction, accuracy, order: c.order, series: c.order + " " + c.repeat }))));
      figure(s, Plot.plot({
        width: 1000, height: 150 * Math.ceil(classes.length / 5) + 40, grid: true, color: { legend: true }, fx: { axis: null }, fy: { axis: null },
        x: { label: "fraction of units ablated", domain: [0, 1], ticks: [0.2, 0.5, 0.8] }, y: { label: "class accuracy (%)", domain: [0, 1], ticks: 4, tickFormat: pointsTick },
        marks: [
          Plot.frame({ stroke: "#ddd" }),
          Plot.line(rows, { fx: "col", fy: "row", x: "fraction", y: "accuracy", z: "series", stroke: "order", strokeWidth: 1.2, tip: { format: { y: percentText, fx: false, fy: false } }, channels: { class: "class" } }),
          Plot.text(classes.map((c, j) => ({ c, col: j % 5, row: Math.floor(j / 5) })), { fx: "col", fy: "row", frameAnchor: "top-right", dx: -4, dy: 4, text: (d) => "class " + d.c }),
        ],
      }), "The same cumulative ablation, class by class: one panel per class with its accuracy under each order. Classes that hold up while others collapse are served by units the orders reach last." + (whole.length ? " With every unit ablated the layer's output is the same for every image, so the network gives every image one class: " + whole.join(", ") + ", whose panel climbs back to 100 % at the end." : ""), file("class-curves"), rows.map(({ col, row, ...r }) => r));
    }
  }

  // First-layer weights.
  if (site.weights) {
    const s = add("weights", "Incoming weights of " + site.name + " as images");
    const grid = document.createElement("div");
    grid.className = "weights";
    for (const u of site.order) {
      const canvas = weightTile(site.weights.values[u], site.weights.width, site.weights.height);
      canvas.title = unitLabel(u);
      grid.append(canvas);
    }
    figure(s, grid, "Each tile is one unit's incoming weights arranged as the input image (red positive, blue negative, scaled per unit), in the population order above: the pixel patterns each unit looks for.", file("weights"),
      () => site.order.flatMap((u) => site.weights.values[u].map((w, p) => ({ unit: u, pixel: p, weight: w }))));
  }
  if (typeof drawMap === "function") drawMap(site);
}
`;
