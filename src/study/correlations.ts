/**
 * What predicts importance (Meyes et al. 2020): Pearson and Spearman correlations, with two-sided p-values, between
 * every pair of per-unit indicators, per site and pooled over all sites. Indicators a site lacks (no initial model,
 * no weights) are left out of its table; dead units stay in (they are real units that matter to nothing). A unit whose
 * value is null for one of the two indicators (selectivity below the minimum activity) is left out of that pair's
 * coefficients only; `n` counts the units used.
 */
import { INDICATOR_NAMES, type IndicatorName, type IndicatorsResult, type SiteIndicators } from "./indicators.js";
import { pearson, spearman, type Correlation } from "./stats.js";

/** The correlation of two indicators over the units of a table's scope. */
export interface CorrelationEntry {
  /** The first indicator (earlier in INDICATOR_NAMES order). */
  a: IndicatorName;
  /** The second indicator. */
  b: IndicatorName;
  /** Pearson's r and two-sided p (`pearson`); null where undefined (fewer than 3 units, a constant indicator). */
  pearson: Correlation;
  /** Spearman's rank correlation and two-sided p (`spearman`); null as `pearson`. */
  spearman: Correlation;
  /** Units with both values defined, over which the coefficients are computed. */
  n: number;
}

/** One site's (or the pooled sites') correlations between every two indicators. */
export interface CorrelationTable {
  /** A site name, or "pooled". */
  scope: string;
  /** Units in the scope (dead units included); an entry's `n` may be fewer. */
  units: number;
  /** One entry per pair of the indicators every site of the scope has, in INDICATOR_NAMES order (a before b). */
  entries: CorrelationEntry[];
}

/**
 * Pearson and Spearman correlations (SciPy's conventions, two-sided p-values) between every two indicators, one table
 * per site and one pooled over the sites (method in the module comment, after Meyes et al. 2020).
 * @throws nothing.
 */
export function correlations(result: IndicatorsResult): CorrelationTable[] {
  const tables = result.sites.map((site) => table(site.site, [site]));
  if (result.sites.length > 1) tables.push(table("pooled", result.sites));
  return tables;
}

function table(scope: string, sites: SiteIndicators[]): CorrelationTable {
  const columns = INDICATOR_NAMES.filter((name) => sites.every((s) => s[name] !== null));
  const values = (name: IndicatorName) => sites.flatMap((s) => s[name] as Array<number | null>);
  const entries: CorrelationEntry[] = [];
  for (let i = 0; i < columns.length; i++) {
    for (let j = i + 1; j < columns.length; j++) {
      const other = values(columns[j]);
      const both = values(columns[i]).map((v, u) => [v, other[u]]).filter((p): p is [number, number] => p[0] !== null && p[1] !== null);
      const x = both.map((p) => p[0]);
      const y = both.map((p) => p[1]);
      entries.push({ a: columns[i], b: columns[j], pearson: pearson(x, y), spearman: spearman(x, y), n: x.length });
    }
  }
  return { scope, units: sites.reduce((n, s) => n + s.units, 0), entries };
}
