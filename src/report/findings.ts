/**
 * The report's findings for one site, in numbers a reader can check in the figures: dead units, the most
 * class-selective units (selectivity as Morcos et al. 2018, defined above the minimum activity), units whose ablation
 * hits many classes, the most damaging single units, the most redundant pairs (Meyes et al. 2019), and which
 * indicator predicts the single-unit accuracy drop (Meyes et al. 2020).
 */
import type { CharacterizeSummary } from "../runs/characterizeFiles.js";
import type { IndicatorName } from "../study/indicators.js";
import { spearman } from "../study/stats.js";
import { round } from "./round.js";

/** The paper's findings for one site, in numbers a reader can check in the figures. */
export interface Findings {
  /** The dead units (exactly 0 on every sample), ascending. */
  dead: number[];
  /** Most class-selective units with defined selectivity (above the minimum activity): selectivity, the class they prefer, and that class's drop when ablated. */
  selective: Array<{ unit: number; selectivity: number; preferred: string; drop: number }>;
  /** Units whose ablation costs at least 0.5 percentage points in the most classes. */
  broad: Array<{ unit: number; classes: number; drop: number }>;
  /** The most damaging single units. */
  important: Array<{ unit: number; drop: number; worstClass: string; worstDrop: number }>;
  /** The most redundant pairs (null without a pair sweep). */
  redundant: Array<{ units: [number, number]; redundancy: number; delta: number }> | null;
  /**
   * Spearman correlation of an indicator with the single-unit accuracy drop, for weight change and the others, over
   * every unit (as correlations.csv); where the site has dead units, also over the live ones (`live`), since the dead
   * units' shared floor (no drop, no activity) can make a correlation (a trial's ρ 0.96 over 64 units, 42 of them
   * dead, was 0.36 over the 22 live).
   */
  predictors: Array<{ indicator: string; spearman: number | null; p: number | null; live?: { spearman: number | null; p: number | null; n: number } }>;
}

/**
 * The findings of one site from its indicators (`ind`), its [unit][class] accuracy drops (`impact`, fractions), the
 * pair sweep's [i, j, accuracy change, redundancy] rows (null without one) and its indicator correlations.
 */
export function findings(
  ind: CharacterizeSummary["indicators"]["sites"][number],
  impact: Array<Array<number | null>>,
  classNames: string[],
  pairs: Array<[number, number, number, number]> | null,
  correlations: CharacterizeSummary["correlations"][number]["entries"],
): Findings {
  const k = classNames.length;
  const live = Array.from({ length: ind.units }, (_, u) => u).filter((u) => !ind.dead.includes(u));
  const preferred = (u: number) => {
    // A class without samples has no mean (null in the summary): never preferred.
    const mean = (c: number) => ind.classMeans.data[c * ind.units + u] ?? -Infinity;
    let best = 0;
    for (let c = 1; c < k; c++) if (Number(mean(c)) > Number(mean(best))) best = c;
    return best;
  };
  const top = <T>(items: T[], score: (t: T) => number, n = 3) => [...items].sort((a, b) => score(b) - score(a)).slice(0, n);
  return {
    dead: ind.dead,
    selective: top(live.filter((u) => ind.selectivity[u] !== null), (u) => ind.selectivity[u]!).map((u) => ({ unit: u, selectivity: round(ind.selectivity[u])!, preferred: classNames[preferred(u)], drop: round(impact[u][preferred(u)])! })),
    broad: top(live, (u) => impact[u].filter((d) => d !== null && d >= 0.005).length * 10 + ind.impact[u])
      .map((u) => ({ unit: u, classes: impact[u].filter((d) => d !== null && d >= 0.005).length, drop: round(ind.impact[u])! })),
    important: top(live, (u) => ind.impact[u]).map((u) => {
      const drops = impact[u].map((d) => d ?? -Infinity);
      const worst = drops.indexOf(Math.max(...drops));
      return { unit: u, drop: round(ind.impact[u])!, worstClass: classNames[worst], worstDrop: drops[worst] };
    }),
    redundant: pairs ? top(pairs, (p) => p[3]).map(([a, b, delta, redundancy]) => ({ units: [a, b], redundancy, delta })) : null,
    predictors: correlations.filter((e) => e.b === "impact").map((e) => ({ indicator: e.a, spearman: round(e.spearman.r), p: round(e.spearman.p), ...(ind.dead.length > 0 ? { live: liveSpearman(ind, e.a, live) } : {}) })),
  };
}

/** Spearman's ρ of an indicator with the overall drop over the live units (those where the indicator is defined). */
function liveSpearman(ind: CharacterizeSummary["indicators"]["sites"][number], indicator: IndicatorName, live: number[]): { spearman: number | null; p: number | null; n: number } {
  const values = ind[indicator] as Array<number | null> | null;
  const units = values ? live.filter((u) => values[u] !== null) : [];
  const { r, p } = spearman(units.map((u) => values![u]!), units.map((u) => ind.impact[u]));
  return { spearman: round(r), p: round(p), n: units.length };
}
