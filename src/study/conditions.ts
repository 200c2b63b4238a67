/**
 * Conditions: what an ablation run knocks out. A condition is a site, a set of units and a mode, with an id derived
 * from its content (the resume key and the CSV row key). `singles`, `pairs`, `groups` and `fractions` build lists;
 * `ablate` runs any list.
 */
import { createHash } from "node:crypto";
import { fail } from "../errors.js";
import { checkUnits, resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { seeded, shuffle } from "../random.js";

/** The ablation modes, as conditions and the command line's --mode name them. */
export const ABLATION_MODES = ["zero", "mean"] as const;

/** How a condition ablates its units: "zero" forces their outputs to 0 (the papers' ablation); "mean" replaces them by their mean over the data set. */
export type AblationMode = (typeof ABLATION_MODES)[number];

/** One ablation: units of one site knocked out together in a mode. Build with `condition`, `singles`, `pairs`, `groups` or `fractions`. */
export interface Condition {
  /** Content-derived key: `fc1/zero/3` for one unit, `fc1/zero/3+7` for a pair, a hash for larger sets, `@label` after a label. */
  id: string;
  /** The site's name. */
  site: string;
  /** Distinct unit indices, ascending. */
  units: number[];
  /** "zero" or "mean" (see AblationMode). */
  mode: AblationMode;
  /** A name for a group or a fraction step (`population 2`, `0.3 random #1`); null for singles and pairs. */
  label: string | null;
  /** For a step of a cumulative ablation (`fractions`): the step as numbers. Absent for other conditions. */
  cumulative?: CumulativeStep;
}

/** One step of a cumulative ablation (Morcos et al. 2018; `fractions`). */
export interface CumulativeStep {
  /** The fraction of the site's units asked for (0 < f ≤ 1); round(f·units) units (at least 1) are ablated. */
  fraction: number;
  /** Which units went first (see FractionOrder). */
  order: FractionOrder;
  /** 1-based repeat of a random order; 1 for the other orders. */
  repeat: number;
  /** The step's units in the order they were added (`units` holds them sorted). */
  sequence: number[];
}

/**
 * One condition: `units` of `site` (sorted, de-duplicated) ablated together in `mode` ("zero": outputs forced to 0, the
 * papers' ablation; "mean": outputs replaced by their data mean), with its id `site/mode/u1+u2…`.
 * @throws LesionError `bad-units` (no units, or a unit that is not a whole number); `unit-out-of-range`.
 */
export function condition(site: Site, units: readonly number[], mode: AblationMode = "zero", label: string | null = null): Condition {
  checkUnits(site, units);
  const sorted = [...new Set(units)].sort((a, b) => a - b);
  if (sorted.length === 0) fail("bad-units", `a condition at site ${site.name} needs at least one unit`, { site: site.name });
  return { id: conditionId(site.name, sorted, mode, label), site: site.name, units: sorted, mode, label };
}

/**
 * The single-unit conditions the redundancy of `conditions`' pairs needs and `conditions` does not hold: both units of
 * every unlabelled two-unit condition alone, in its mode, each once, in the order the pairs name them. `ablate` runs
 * them without reporting them (the pairs' units were checked when the pairs were made).
 */
export function redundancySingles(conditions: ReadonlyArray<Pick<Condition, "id" | "site" | "units" | "mode" | "label">>): Condition[] {
  const held = new Set(conditions.map((c) => c.id));
  const singles = new Map<string, Condition>();
  for (const c of conditions) {
    if (c.units.length !== 2 || c.label !== null) continue;
    for (const u of c.units) {
      const id = conditionId(c.site, [u], c.mode);
      if (!held.has(id) && !singles.has(id)) singles.set(id, { id, site: c.site, units: [u], mode: c.mode, label: null });
    }
  }
  return [...singles.values()];
}

/** The id of the condition ablating `units` (sorted, distinct) of `site` in `mode`: `site/mode/u1+u2…[@label]`. */
export function conditionId(site: string, units: readonly number[], mode: AblationMode, label: string | null = null): string {
  const key = units.length <= 4 ? units.join("+") : `${units.length}u-${createHash("sha256").update(units.join(",")).digest("hex").slice(0, 12)}`;
  return `${site}/${mode}/${key}${label === null ? "" : `@${label}`}`;
}


/**
 * Every unit of a site alone (or the given units): Meyes et al. 2019's single-unit ablations.
 * @throws LesionError `unit-out-of-range`; `bad-units` (a unit that is not a whole number).
 */
export function singles(site: Site, mode: AblationMode = "zero", units?: readonly number[]): Condition[] {
  return (units ?? range(site.units)).map((u) => condition(site, [u], mode));
}

/**
 * Every unordered pair of the site's units (or of the given units), i < j: Meyes et al. 2019's pair ablations.
 * @throws LesionError `bad-units` (fewer than two distinct units: no pair; a unit that is not a whole number);
 * `unit-out-of-range`.
 */
export function pairs(site: Site, mode: AblationMode = "zero", units?: readonly number[]): Condition[] {
  // Each unit once: a repeated unit had made a pair of itself (a single) and repeated pairs.
  const list = [...new Set(units ?? range(site.units))];
  if (list.length < 2) fail("bad-units", `pairs at site ${site.name} need at least two units, got ${list.length === 0 ? "none" : list.join(", ")}`, { site: site.name, units: list });
  const result: Condition[] = [];
  for (let a = 0; a < list.length; a++) for (let b = a + 1; b < list.length; b++) result.push(condition(site, [list[a], list[b]], mode));
  return result;
}

/**
 * Named groups of units, one condition each (Meyes et al. 2020's population ablations). A group named by its own
 * units (`"3+17": [3, 17]`, `"3": [3]`; sorted, joined by `+`) is that plain condition, unlabelled: the same id as
 * `condition(site, units)`, and a pair named so gets its redundancy (a trial's `{"7": [7], "8": [8], "7+8": [7, 8]}`
 * had given `fc1/zero/7+8@7+8`, with none).
 * @throws LesionError `bad-groups` (no groups, or an empty group); `unit-out-of-range`; `bad-units`.
 */
export function groups(site: Site, named: Record<string, readonly number[]>, mode: AblationMode = "zero"): Condition[] {
  const entries = Object.entries(named);
  if (entries.length === 0) fail("bad-groups", `no groups given for site ${site.name}`, { site: site.name });
  return entries.map(([name, units]) => {
    if (!Array.isArray(units) || units.length === 0) fail("bad-groups", `group '${name}' for site ${site.name} has no units`, { site: site.name, group: name });
    const plain = condition(site, units, mode);
    return name === plain.units.join("+") ? plain : condition(site, plain.units, mode, name);
  });
}

/**
 * The order in which a cumulative ablation (`fractions`) adds units: "random" (a seeded shuffle per repeat), or the
 * caller's per-unit `ranking`, largest first: "selectivity" (`study` ranks by class selectivity) or "impact" (by the
 * accuracy drop of the unit's single ablation). The name also labels the conditions.
 */
export type FractionOrder = "random" | "selectivity" | "impact";

/** Random orders one fraction curve takes at most (each a whole set of conditions). */
export const MAX_REPEATS = 10_000;

/** Options of `fractions`. */
export interface FractionsOptions {
  /** Fractions of the site's units to ablate, each in (0, 1]. */
  fractions: number[];
  /** Which units go first. "random" draws a seeded order per repeat; the others follow `ranking` (largest first). */
  order?: FractionOrder;
  /**
   * Per-unit scores for "selectivity"/"impact", largest ablated first; a null score (selectivity undefined below the
   * minimum activity) goes after every scored unit, in unit order. Required for those orders.
   */
  ranking?: ReadonlyArray<number | null>;
  /** Random orders drawn (order "random" only). Default 1. */
  repeats?: number;
  /** Seed of the random orders. Default 0. */
  seed?: number;
  /** How the units are ablated. Default "zero". */
  mode?: AblationMode;
}

/**
 * Cumulative ablation (Morcos et al. 2018): for each fraction f (0 < f ≤ 1), the first round(f·units) units of an
 * order (random per repeat, seeded, or by `ranking`, largest first).
 * @throws LesionError `bad-fraction` (no fractions, or f outside (0, 1]); `bad-option` (an order without a score per
 * unit, `repeats` outside 1..MAX_REPEATS, a `seed` that is not a whole number).
 */
export function fractions(site: Site, options: FractionsOptions): Condition[] {
  const order = options.order ?? "random";
  if (options.fractions.length === 0) fail("bad-fraction", "no fractions given: a cumulative ablation needs at least one fraction in (0, 1]", { fraction: Number.NaN });
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) fail("bad-option", `\`seed\` must be a whole number, got ${seed}`, { options: ["seed"], value: seed });
  for (const f of options.fractions) {
    if (!(f > 0 && f <= 1)) fail("bad-fraction", `fraction ${f} is outside (0, 1]`, { fraction: f });
  }
  const repeats = order === "random" ? (options.repeats ?? 1) : 1;
  // At most MAX_REPEATS random orders: 1e9 had filled the heap building conditions (an out-of-memory crash).
  if (!(Number.isInteger(repeats) && repeats >= 1 && repeats <= MAX_REPEATS)) fail("bad-option", `\`repeats\` must be a whole number from 1 to ${MAX_REPEATS}, got ${repeats}`, { options: ["repeats"], value: repeats });
  const orders: number[][] = [];
  if (order === "random") {
    for (let r = 0; r < repeats; r++) orders.push(shuffle(range(site.units), seeded(seed * 1000003 + r)));
  } else {
    const ranking = options.ranking;
    if (!ranking || ranking.length !== site.units) fail("bad-option", `order '${order}' needs \`ranking\`: a score for each of the ${site.units} units of ${site.name}`, { options: ["ranking"], value: order });
    const score = (u: number) => ranking[u] ?? -Infinity;
    orders.push(range(site.units).sort((a, b) => (score(a) === score(b) ? a - b : score(b) - score(a))));
  }
  const result: Condition[] = [];
  orders.forEach((unitOrder, r) => {
    for (const f of options.fractions) {
      const count = Math.max(1, Math.round(f * site.units));
      const sequence = unitOrder.slice(0, count);
      const step = condition(site, sequence, options.mode ?? "zero", `${f} ${order}${order === "random" ? ` #${r + 1}` : ""}`);
      result.push({ ...step, cumulative: { fraction: f, order, repeat: r + 1, sequence } });
    }
  });
  return result;
}

/** The units 0..n−1 ascending (`range(site.units)`: every unit of a site); [] for n ≤ 0, a fractional n truncated. Throws nothing. */
export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * What `ablate` checks of its conditions before any work, for a caller that must know before it starts (the command
 * line, before it claims an output directory whose previous run `--overwrite` would remove): some conditions, each
 * site in the model, each unit in its site, a mode of "zero" or "mean", and each condition what its site, units, mode
 * and label make (its id is the resume log's and the CSV's key: a hand-written `{id: "fc1/zero/2", units: [1]}` had
 * ablated unit 1 reported as unit 2). Returns the sites by the names the conditions give.
 * @throws LesionError `bad-units` (no conditions; units not distinct and ascending; an id its content does not make);
 * `bad-option` (another mode: "max" had run as "zero"); `unknown-site`; `unit-out-of-range`.
 */
export function checkConditions(model: LesionModel, conditions: readonly Condition[]): Map<string, Site> {
  if (conditions.length === 0) fail("bad-units", "no conditions to ablate");
  const sites = new Map<string, Site>();
  for (const c of conditions) {
    const site = sites.get(c.site) ?? resolveSite(model, c.site);
    checkUnits(site, c.units);
    sites.set(c.site, site);
    checkCondition(c, site.name);
  }
  return sites;
}

function checkCondition(c: Condition, site: string): void {
  if (!ABLATION_MODES.includes(c.mode)) fail("bad-option", `condition ${c.id}: \`mode\` must be "zero" or "mean", got '${String(c.mode)}'`, { options: ["mode"], value: c.mode });
  for (let i = 1; i < c.units.length; i++) {
    if (!(c.units[i] > c.units[i - 1])) fail("bad-units", `condition ${c.id}: its units must be distinct and ascending, got ${c.units.join(", ")} (condition() sorts them)`, { site });
  }
  const id = conditionId(site, c.units, c.mode, c.label);
  if (c.id !== id) fail("bad-units", `condition ${c.id} is not what its site, units, mode and label make (${id}): build conditions with condition(), singles(), pairs(), groups() or fractions()`, { site });
}
