/**
 * What predicts importance (Meyes et al. 2020): Pearson and Spearman correlations, with two-sided p-values, between
 * every pair of per-unit indicators, per site and pooled over all sites. Indicators a site lacks (no initial model,
 * no weights) are left out of its table; dead units stay in (they are real units that matter to nothing).
 */
import { INDICATOR_NAMES, type IndicatorName, type IndicatorsResult, type SiteIndicators } from "./indicators.js";
import { pearson, spearman, type Correlation } from "./stats.js";

export interface CorrelationEntry {
  a: IndicatorName;
  b: IndicatorName;
  pearson: Correlation;
  spearman: Correlation;
}

export interface CorrelationTable {
  /** A site name, or "pooled". */
  scope: string;
  units: number;
  entries: CorrelationEntry[];
}

export function correlations(result: IndicatorsResult): CorrelationTable[] {
  const tables = result.sites.map((site) => table(site.site, [site]));
  if (result.sites.length > 1) tables.push(table("pooled", result.sites));
  return tables;
}

function table(scope: string, sites: SiteIndicators[]): CorrelationTable {
  const columns = INDICATOR_NAMES.filter((name) => sites.every((s) => s[name] !== null));
  const values = (name: IndicatorName) => sites.flatMap((s) => s[name] as number[]);
  const entries: CorrelationEntry[] = [];
  for (let i = 0; i < columns.length; i++) {
    for (let j = i + 1; j < columns.length; j++) {
      const x = values(columns[i]);
      const y = values(columns[j]);
      entries.push({ a: columns[i], b: columns[j], pearson: pearson(x, y), spearman: spearman(x, y) });
    }
  }
  return { scope, units: sites.reduce((n, s) => n + s.units, 0), entries };
}
