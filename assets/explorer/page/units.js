// The explorer page, the network panel: a column of unit cells per site, coloured by an indicator, and a unit's tip.

function colourOf(t) {
  // viridis, 5 stops
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, j) => Math.round(v + f * (stops[i + 1][j] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const INDICATORS = [
  ["classMean", "class-conditional activation"],
  ["selectivity", "selectivity"],
  ["impact", "single-unit impact (accuracy drop)"],
  ["magnitude", "mean |activation|"],
  ["fractionActive", "fraction of samples active"],
];

function indicatorValues(site) {
  const ind = indicatorsBySite.get(site.name);
  const which = $("indicator").value;
  if (which === "classMean") {
    const k = Number($("klass").value);
    return Array.from({ length: site.units }, (_, u) => ind.classMeans[k * site.units + u]);
  }
  return ind[which];
}

function buildNetwork() {
  const root = $("network");
  root.textContent = "";
  for (const site of meta.sites) {
    const column = document.createElement("div");
    column.className = "site";
    const title = document.createElement("h3");
    title.textContent = `${site.name}`;
    const sub = document.createElement("div");
    sub.className = "sub";
    sub.textContent = `${site.units} ${site.kind === "conv" ? "channels" : "units"}`;
    // The colour scale's ends for this site, rewritten on each recolouring (a trial: the legend gave no numbers).
    const range = document.createElement("div");
    range.className = "sub range";
    range.dataset.site = site.name;
    const grid = document.createElement("div");
    grid.className = "units";
    const columns = Math.max(1, Math.ceil(site.units / 25));
    // A first column names the first unit of every fifth row, so a unit is found by its index without hovering (a trial).
    grid.style.gridTemplateColumns = `auto repeat(${columns}, 14px)`;
    for (let u = 0; u < site.units; u++) {
      if (u % columns === 0) {
        const label = document.createElement("div");
        label.className = "row-label";
        label.setAttribute("aria-hidden", "true");
        if ((u / columns) % 5 === 0) label.textContent = String(u);
        grid.append(label);
      }
      const cell = document.createElement("div");
      cell.className = "unit";
      cell.dataset.site = site.name;
      cell.dataset.unit = String(u);
      // Reachable by keyboard (Tab, then Enter or Space; Shift as with a click), and named for a screen reader.
      cell.tabIndex = 0;
      cell.setAttribute("role", "button");
      cell.setAttribute("aria-label", `${site.name}:${u}`);
      grid.append(cell);
    }
    column.append(title, sub, range, grid);
    root.append(column);
  }
  /** A click or key on a unit: alone it silences only that unit; with Shift (or Ctrl/Cmd, as a list selects) it toggles it in the group. */
  const toggle = (event) => {
    const cell = event.target.closest(".unit");
    if (!cell) return;
    const site = cell.dataset.site;
    const unit = Number(cell.dataset.unit);
    const silenced = (lesion.get(site) ?? []).includes(unit);
    let next;
    if (event.shiftKey || event.ctrlKey || event.metaKey) {
      next = copyLesion(lesion);
      const units = next.get(site) ?? [];
      next.set(site, silenced ? units.filter((u) => u !== unit) : [...units, unit]);
    } else next = silenced && lesionSize(lesion) === 1 ? new Map() : new Map([[site, [unit]]]);
    enqueue(() => apply(next)).catch(() => {});
  };
  root.addEventListener("click", toggle);
  root.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    toggle(event);
  });
  root.addEventListener("mousemove", (event) => {
    const cell = event.target.closest(".unit");
    if (!cell) return void ($("tip").hidden = true);
    showTip(cell);
  });
  root.addEventListener("mouseleave", () => ($("tip").hidden = true));
}

function colourUnits() {
  for (const site of meta.sites) {
    const values = indicatorValues(site);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (v === null) continue; // selectivity of a unit below the minimum activity is undefined
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const which = $("indicator").value;
    const shown = (v) => (which === "impact" ? `${(100 * v).toFixed(2)} pp` : which === "fractionActive" ? `${(100 * v).toFixed(1)}%` : v.toFixed(3));
    const range = document.querySelector(`.range[data-site="${CSS.escape(site.name)}"]`);
    if (range) range.textContent = lo <= hi ? `${shown(lo)} … ${shown(hi)}` : "no values";
    const off = new Set(lesion.get(site.name) ?? []);
    for (const cell of document.querySelectorAll(`.unit[data-site="${CSS.escape(site.name)}"]`)) {
      const u = Number(cell.dataset.unit);
      cell.style.background = values[u] === null ? "#ccc" : colourOf(hi > lo ? (values[u] - lo) / (hi - lo) : 0.5);
      cell.classList.toggle("off", off.has(u));
    }
  }
}

/** How often a unit is active, never rounded to a misleading "0%": a unit active on a few images says so. */
function activeText(fraction) {
  if (fraction === 0) return "never active on these samples (dead)";
  return `active ${fraction < 0.01 ? (100 * fraction).toFixed(2) : (100 * fraction).toFixed(0)}%`;
}

let weightsCache = new Map();
function showTip(cell) {
  const site = siteByName.get(cell.dataset.site);
  const u = Number(cell.dataset.unit);
  const ind = indicatorsBySite.get(site.name);
  const tip = $("tip");
  tip.textContent = "";
  const title = document.createElement("div");
  title.className = "tip-title";
  title.textContent = `${site.name}:${u}${(lesion.get(site.name) ?? []).includes(u) ? " (silenced)" : ""}`;
  const facts = document.createElement("div");
  facts.textContent = `selectivity ${ind.selectivity[u] === null ? "undefined (too few active samples)" : ind.selectivity[u].toFixed(3)} · accuracy drop alone ${(100 * ind.impact[u]).toFixed(2)} pp · mean |act| ${ind.magnitude[u].toFixed(3)} · ${activeText(ind.fractionActive[u])}`;
  tip.append(title, facts);
  // Class profile: the unit's mean activation per class.
  const profile = svg("svg", { width: 24 * K + 10, height: 70 });
  const values = Array.from({ length: K }, (_, k) => ind.classMeans[k * site.units + u]);
  const hi = Math.max(1e-12, ...values.map(Math.abs));
  values.forEach((v, k) => {
    const h = (40 * Math.abs(v)) / hi;
    profile.append(svg("rect", { x: 5 + k * 24, y: 45 - h, width: 18, height: h, class: v < 0 ? "neg" : "pos" }));
    profile.append(svg("text", { x: 14 + k * 24, y: 62, "text-anchor": "middle" }, meta.classNames[k].slice(0, 3)));
  });
  const label = document.createElement("div");
  // The scale: the tallest bar's value (a trial found the bars without any).
  const tallest = hi > 1e-12 ? `; the tallest bar is ${hi.toPrecision(3)}` : "; 0 for every class";
  label.textContent = values.some((v) => v < 0) ? `class profile (mean activation per class; bar height |mean|, blue: negative${tallest})` : `class profile (mean activation per class${tallest})`;
  tip.append(label, profile);
  const w = meta.weights[site.name];
  if (w && weightsCache.has(site.name)) {
    const weights = weightsCache.get(site.name);
    const canvas = document.createElement("canvas");
    canvas.width = w.width;
    canvas.height = w.height;
    canvas.className = "weights";
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w.width, w.height);
    const plane = w.width * w.height;
    let hiW = 1e-12;
    for (let i = 0; i < w.fanIn; i++) hiW = Math.max(hiW, Math.abs(weights[u * w.fanIn + i]));
    for (let p = 0; p < plane; p++) {
      let v = 0;
      for (let c = 0; c < w.channels; c++) v += weights[u * w.fanIn + c * plane + p];
      v /= w.channels * hiW;
      // Red positive, blue negative, as the study and transplant reports draw weights.
      img.data[4 * p] = v > 0 ? 255 : Math.round(255 * (1 + v));
      img.data[4 * p + 1] = Math.round(255 * (1 - Math.abs(v)));
      img.data[4 * p + 2] = v < 0 ? 255 : Math.round(255 * (1 - v));
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const wl = document.createElement("div");
    const summed = w.channels > 1 ? `, summed over the ${w.channels} input channels` : "";
    wl.textContent = hiW > 1e-12 ? `incoming weights (red +, blue −; scaled to the unit's largest |weight|, ${hiW.toPrecision(3)}${summed})` : "incoming weights: all 0 (as a unit held at zero by recover)";
    tip.append(wl, canvas);
  }
  tip.hidden = false;
}
