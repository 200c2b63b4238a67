// The explorer page, the lesion being shown: its history, the queue of changes, and its `lesion ablate` line.
let lesion = new Map(); // site -> sorted units
const history = [];
let current = null;
let queue = Promise.resolve();
const timings = [];

const copyLesion = (l) => new Map([...l].map(([s, u]) => [s, [...u]]));
const lesionSize = (l) => [...l.values()].reduce((a, u) => a + u.length, 0);

function enqueue(task) {
  const result = queue.then(task);
  queue = result.catch(() => {});
  return result;
}

async function apply(next) {
  history.push(copyLesion(lesion));
  lesion = new Map([...next].filter(([, u]) => u.length > 0).map(([s, u]) => [s, [...new Set(u)].sort((a, b) => a - b)]));
  return refresh();
}

async function refresh() {
  const started = performance.now();
  try {
    current = await evaluate(lesion);
  } catch (error) {
    $("status").textContent = String(error.message ?? error);
    lesion = history.pop() ?? new Map();
    throw error;
  }
  render();
  const ms = performance.now() - started;
  if (lesionSize(lesion) > 0) timings.push(ms);
  const ties = current.unresolvedTies;
  $("status").textContent = `${lesionSize(lesion) === 0 ? "intact network" : `${lesionSize(lesion)} unit${lesionSize(lesion) === 1 ? "" : "s"} silenced`} · computed and drawn in ${ms.toFixed(0)} ms${ties > 0 ? ` · ${ties} near tie${ties === 1 ? "" : "s"} decided in float32 (this page has no float64 path for a graph with Conv; \`lesion ablate\` settles them)` : ""}`;
  return current;
}

const pct = (f) => (f === null ? "n/a" : `${(100 * f).toFixed(2)}%`);
const pp = (d) => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(100 * d).toFixed(2)}`;

function cliLine() {
  const active = [...lesion].filter(([, u]) => u.length > 0);
  if (active.length === 0) return "";
  const quote = (s) => (/^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  // `npx lesion`, as the README runs it (in a clone or a project that depends on lesion). Across sites, one command per
  // site, the note last: a leading `#` had made the whole pasted line a shell comment that ran nothing.
  const across = active.length > 1 ? "  # across sites: the CLI ablates one site per condition" : "";
  return active.map(([site, units]) => `npx lesion ablate ${quote(meta.modelPath)} --data ${quote(meta.data)} --site ${quote(site)} --units ${unitRanges(units)} -o ${quote(outputDir(site, units))}`).join(" ; ") + across;
}

/** Sorted units as the CLI's unit list, runs as ranges: [0, 1, 2, 3, 7] → "0-3,7". */
function unitRanges(units) {
  const parts = [];
  for (let i = 0; i < units.length; i++) {
    let j = i;
    while (j + 1 < units.length && units[j + 1] === units[j] + 1) j++;
    parts.push(j > i + 1 ? `${units[i]}-${units[j]}` : j === i + 1 ? `${units[i]},${units[j]}` : `${units[i]}`);
    i = j;
  }
  return parts.join(",");
}

/**
 * A result directory of the lesion's own (`out/fc1_3_7`), so two copied lines never meet in one directory (the CLI
 * refuses another run's results there); a long group is named by its size and a hash of its units.
 */
function outputDir(site, units) {
  const name = `${site}_${unitRanges(units).replace(/,/g, "_")}`.replace(/[^A-Za-z0-9._-]+/g, "_");
  if (name.length <= 60) return `out/${name}`;
  let hash = 2166136261;
  for (const c of units.join(",")) hash = Math.imul(hash ^ c.charCodeAt(0), 16777619) >>> 0;
  return `out/${site.replace(/[^A-Za-z0-9._-]+/g, "_")}_${units.length}units_${hash.toString(16).padStart(8, "0")}`;
}
