// The explorer page, start-up: the controls, loading, and the page's API for tests and scripts (window.lesionExplorer).
function setUp() {
  const why = { asked: "as asked", page: "the whole set would pass 50 MB of page", memory: "the whole set's cached activations would pass the page's 64 MB bound, which keeps a change under a second" }[meta.sampleReason];
  const samples = meta.sampled
    ? `a stratified sample of ${N.toLocaleString("en")} of ${meta.total.toLocaleString("en")} samples (seed ${meta.seed}; ${why}; --samples sets it)`
    : `all ${N.toLocaleString("en")} samples`;
  // The CLI line below runs on the whole set: on a sample, its numbers are the whole set's, not this page's.
  const about = meta.sampled
    ? `${meta.model} on ${meta.data}: ${samples}. Silencing is zero ablation, as \`lesion ablate\` for the same units (the line below) computes it on all ${meta.total.toLocaleString("en")} samples; the accuracies here are this sample's.`
    : `${meta.model} on ${meta.data}: ${samples}. Silencing is zero ablation; for units of one site, accuracy equals \`lesion ablate\` for the same units (the line below).`;
  $("about").textContent = about;
  for (const [value, text] of INDICATORS) $("indicator").append(new Option(text, value));
  meta.classNames.forEach((name, k) => $("klass").append(new Option(name, String(k))));
  const recolour = () => {
    $("class-label").hidden = $("indicator").value !== "classMean";
    colourUnits();
  };
  $("indicator").addEventListener("change", recolour);
  $("klass").addEventListener("change", recolour);
  $("reset").addEventListener("click", () => enqueue(() => apply(new Map())).catch(() => {}));
  $("undo").addEventListener("click", () =>
    enqueue(() => {
      if (history.length === 0) return current;
      lesion = history.pop();
      return refresh();
    }).catch(() => {}),
  );
  if (meta.populations.length > 0) {
    $("population-label").hidden = false;
    $("population").append(new Option("silence a population…", ""));
    meta.populations.forEach((g, i) =>
      g.populations.forEach((p, j) => $("population").append(new Option(`${g.site} · by ${g.by} · population ${p.id} (${p.units.length} units)`, `${i}:${j}`))),
    );
    $("population").addEventListener("change", () => {
      const value = $("population").value;
      if (!value) return;
      const [i, j] = value.split(":").map(Number);
      const g = meta.populations[i];
      // The picker keeps showing the population while it is the lesion (render() clears it after any other change).
      enqueue(() => apply(new Map([[g.site, g.populations[j].units]]))).catch(() => {});
    });
  }
  $("copy").addEventListener("click", () =>
    navigator.clipboard?.writeText($("units").value).then(
      () => {
        $("copy").textContent = "copied";
        setTimeout(() => ($("copy").textContent = "copy"), 1500);
      },
      () => {},
    ),
  );
  buildNetwork();
  $("map-box").hidden = !meta.map;
}

setUp();
const loadStarted = performance.now();
const ready = (async () => {
  await init();
  for (const [site, w] of Object.entries(meta.weights)) {
    const bytes = await blob(w.blob);
    weightsCache.set(site, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  }
  current = intact;
  render();
  const agrees = intact.accuracy === meta.baseline.accuracy;
  const on = meta.sampled ? ` on these ${N.toLocaleString("en")} samples` : "";
  const whole = meta.wholeBaseline ? `; ${pct(meta.wholeBaseline.accuracy)} on all ${meta.total.toLocaleString("en")}, as \`lesion eval\` gives it` : "";
  $("status").textContent = `ready in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s · intact accuracy ${pct(intact.accuracy)}${on}${agrees ? ` (equals lesion's${on})` : ` (lesion computed ${pct(meta.baseline.accuracy)})`}${whole}`;
  return { accuracy: intact.accuracy, perClass: intact.perClass };
})();
ready.catch((error) => {
  $("status").textContent = `the network could not be run here: ${error.message ?? error}`;
});

window.lesionExplorer = {
  /** Resolves with the intact network's {accuracy, perClass} once the page has run it. */
  ready,
  /** Silences exactly `units` of `site` (zero ablation), shows it, resolves with {accuracy, perClass}. */
  ablate(site, units) {
    return window.lesionExplorer.silence({ [site]: Array.isArray(units) ? units : [units] });
  },
  /** Silences exactly the given units of several sites at once ({fc1: [3], fc2: [7, 9]}); resolves as `ablate`. */
  async silence(given) {
    await ready;
    // A site by any name the command line takes (`relu0` for the site of that activation), keyed by its own.
    const units = Object.fromEntries(Object.entries(given).map(([site, list]) => [siteByName.has(site) ? site : (meta.aliases[site] ?? site), list]));
    for (const [site, list] of Object.entries(units)) {
      const known = siteByName.get(site);
      if (!known) throw new Error(`unknown site '${site}' (sites: ${meta.sites.map((s) => s.name).join(", ")})`);
      if (!Array.isArray(list)) throw new Error(`the units of site ${site} must be an array of unit indices, got ${JSON.stringify(list)}`);
      // A string "3" had been called out of range; it is no index at all.
      for (const u of list) if (!Number.isInteger(u)) throw new Error(`units are whole numbers (indices), got ${JSON.stringify(u)} for site ${site}`);
      for (const u of list) if (u < 0 || u >= known.units) throw new Error(`unit ${u} is out of range for site ${site} (0..${known.units - 1})`);
    }
    const result = await enqueue(() => apply(new Map(Object.entries(units))));
    return { accuracy: result.accuracy, perClass: result.perClass, lost: result.lost, gained: result.gained, ms: result.ms };
  },
  /** The shown result: {accuracy, perClass, lost, gained}. */
  result: () => current && { accuracy: current.accuracy, perClass: current.perClass, lost: current.lost, gained: current.gained },
  /** The page's samples as indices into the data set (ascending), or null when it holds the whole set. */
  samples: () => meta.samples,
  /** The current lesion as {site: units}. */
  lesion: () => Object.fromEntries(lesion),
  /** Milliseconds from a change to its drawn result, one per change. */
  timings,
  /** Milliseconds of each loading phase (parse, wasm, data, sessions, prefix, intact). */
  phases,
};
