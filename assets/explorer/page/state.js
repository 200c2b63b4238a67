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
  $("status").textContent = `${lesionSize(lesion) === 0 ? "intact network" : `${lesionSize(lesion)} unit${lesionSize(lesion) === 1 ? "" : "s"} silenced`} · computed and drawn in ${ms.toFixed(0)} ms${current.unresolvedTies > 0 ? ` · ${current.unresolvedTies} near ties not settled in float64` : ""}`;
  return current;
}

const pct = (f) => (f === null ? "n/a" : `${(100 * f).toFixed(2)}%`);
const pp = (d) => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(100 * d).toFixed(2)}`;

function cliLine() {
  const active = [...lesion].filter(([, u]) => u.length > 0);
  if (active.length === 0) return "";
  const quote = (s) => (/^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const across = active.length > 1 ? "# across sites: the CLI ablates one site per condition: " : "";
  return across + active.map(([site, units]) => `lesion ablate ${quote(meta.modelPath)} --data ${quote(meta.data)} --site ${quote(site)} --units ${units.join(",")} -o out/${site}`).join(" ; ");
}
