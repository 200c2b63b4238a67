// The explorer page, the results panel: per-class accuracy bars, the confusion matrix, the stimulus map.
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderBars() {
  const root = $("bars");
  root.textContent = "";
  const rowH = 22;
  // Room for the longest class name at 12 px (~7 px a character): "automobile" was cut at 70.
  const left = Math.max(70, 12 + 7 * Math.max(...meta.classNames.map((name) => name.length)));
  const width = 300;
  root.setAttribute("width", String(left + width + 130));
  root.setAttribute("height", String(K * rowH + 24));
  root.append(svg("text", { x: left, y: 12, class: "axis" }, "per-class accuracy: intact (outline) and lesioned (bar)"));
  meta.classNames.forEach((name, k) => {
    const y = 20 + k * rowH;
    const now = current.perClass[k];
    const before = intact.perClass[k];
    root.append(svg("text", { x: left - 6, y: y + 14, "text-anchor": "end" }, name));
    if (now !== null) root.append(svg("rect", { x: left, y: y + 3, width: width * now, height: rowH - 8, class: now < before - 1e-12 ? "bar lost" : now > before + 1e-12 ? "bar gained" : "bar" }));
    if (before !== null) root.append(svg("rect", { x: left, y: y + 1, width: width * before, height: rowH - 4, class: "intact" }));
    const delta = now === null || before === null ? "" : now === before ? "" : ` (${pp(now - before)} pp)`;
    root.append(svg("text", { x: left + width + 6, y: y + 14, class: "value" }, `${pct(now)}${delta}`));
  });
}

function renderConfusion() {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const name of meta.classNames) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  table.append(head);
  for (let y = 0; y < K; y++) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = meta.classNames[y];
    tr.append(th);
    const rowTotal = Math.max(1, counts[y]);
    for (let p = 0; p < K; p++) {
      const td = document.createElement("td");
      const value = current.confusion[y * K + p];
      const change = value - intact.confusion[y * K + p];
      td.textContent = String(value);
      const t = value / rowTotal;
      td.style.background = y === p ? `rgba(70,120,180,${0.15 + 0.75 * t})` : `rgba(200,60,60,${Math.min(0.9, 4 * t)})`;
      if (change !== 0) {
        td.classList.add(y === p ? (change < 0 ? "worse" : "better") : change > 0 ? "worse" : "better");
        td.title = `${change > 0 ? "+" : ""}${change} from intact (${intact.confusion[y * K + p]})`;
      }
      tr.append(td);
    }
    table.append(tr);
  }
  $("confusion").textContent = "";
  $("confusion").append(table);
}

const OUTCOME_COLOURS = { kept: "#b9c6d8", wrong: "#b8874a", lost: "#d0453a", gained: "#2e9a48" };
function renderMap() {
  if (!meta.map) return;
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const { samples, x, y } = meta.map;
  const [x0, x1, y0, y1] = [Math.min(...x), Math.max(...x), Math.min(...y), Math.max(...y)];
  const px = (v) => 6 + ((v - x0) / (x1 - x0 || 1)) * (canvas.width - 12);
  const py = (v) => 6 + ((v - y0) / (y1 - y0 || 1)) * (canvas.height - 12);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const tally = { kept: 0, wrong: 0, lost: 0, gained: 0 };
  const outcome = samples.map((s) => {
    const before = intactPred[s] === labels[s];
    const after = current.predictions[s] === labels[s];
    return before ? (after ? "kept" : "lost") : after ? "gained" : "wrong";
  });
  for (const pass of [["kept", "wrong"], ["lost", "gained"]]) {
    outcome.forEach((o, i) => {
      if (!pass.includes(o)) return;
      ctx.fillStyle = OUTCOME_COLOURS[o];
      const r = pass[0] === "lost" ? 3 : 2;
      ctx.fillRect(px(x[i]) - r / 2, py(y[i]) - r / 2, r, r);
    });
  }
  outcome.forEach((o) => tally[o]++);
  $("map-legend").innerHTML = Object.entries(tally)
    .map(([o, n]) => `<span style="color:${OUTCOME_COLOURS[o]}">■</span> ${o === "wrong" ? "wrong in both" : o === "kept" ? "right in both" : o} ${n}`)
    .join(" · ") + (outcome.length < N ? ` (counts over the map's ${outcome.length.toLocaleString("en")} images, not the ${N.toLocaleString("en")} the page scores)` : "");
}

/** The population picker shows the population that is the current lesion, else its prompt. */
function syncPopulation() {
  if (meta.populations.length === 0) return;
  const active = [...lesion].filter(([, u]) => u.length > 0);
  let value = "";
  if (active.length === 1) {
    const [site, units] = active[0];
    const key = units.join(",");
    meta.populations.forEach((g, i) =>
      g.populations.forEach((p, j) => {
        if (!value && g.site === site && [...p.units].sort((a, b) => a - b).join(",") === key) value = `${i}:${j}`;
      }),
    );
  }
  $("population").value = value;
}

function render() {
  renderMap();
  colourUnits();
  renderBars();
  renderConfusion();
  const d = current.accuracy - intact.accuracy;
  // On a sample, the whole set's intact accuracy stays in view (the status line that gave it is replaced by the first change).
  const whole = meta.sampled && meta.wholeBaseline ? ` on this sample; ${pct(meta.wholeBaseline.accuracy)} on all ${meta.total.toLocaleString("en")}` : "";
  $("overall").textContent = `accuracy ${pct(current.accuracy)}${lesionSize(lesion) ? ` (${pp(d)} pp from intact ${pct(intact.accuracy)}${whole}) · lost ${current.lost} · gained ${current.gained}` : ""}`;
  $("units").value = cliLine();
  // Said where it can be read, not only at the end of the line's box (a trial did not see it there): a lesion of several
  // sites at once has no one CLI command, and the lines give each site's lesion alone, other numbers than these.
  const sites = [...lesion].filter(([, u]) => u.length > 0).length;
  $("cli-note").hidden = sites < 2;
  $("cli-note").textContent = sites < 2 ? "" : `Units of ${sites} sites are silenced together: the accuracy this page shows is that joint lesion, computed here; \`lesion ablate\` ablates one site per condition, so the line runs each site's lesion on its own, with other numbers.`;
  syncPopulation();
  $("undo").disabled = history.length === 0;
  $("reset").disabled = lesionSize(lesion) === 0;
}
