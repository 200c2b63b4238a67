/**
 * Characterisation of a network's units (Meyes et al. 2020): indicators per unit, the correlations between them,
 * and functional populations with their group ablations. See indicators.ts, correlations.ts and populations.ts for
 * the methods and the choices made.
 */
import type { Dataset } from "../data/types.js";
import { requireFiniteWeights, type LesionModel } from "../engine/model.js";
import { correlations, type CorrelationTable } from "./correlations.js";
import { indicators, type IndicatorsOptions, type IndicatorsResult } from "./indicators.js";
import { populations, type PopulationsOptions, type SitePopulations } from "./populations.js";
import { checkStimulusMapCache, stimulusMap, type StimulusMap, type StimulusMapOptions } from "./stimulusMap.js";

/** Options of `characterize`: those of `indicators` and `populations`, and the stimulus map's. */
export interface CharacterizeOptions extends IndicatorsOptions, Omit<PopulationsOptions, "batchSize" | "onProgress" | "signal"> {
  /** The stimulus map's options, or false to skip it. Default: {} (2,000 images, cached). */
  map?: StimulusMapOptions | false;
}

/** What `characterize` found (`lesion characterize` writes it as files). */
export interface CharacterizeResult {
  /** Per-unit indicators of every site characterised (`indicators`). */
  indicators: IndicatorsResult;
  /** Correlations between the indicators: one table per site, and a pooled one where there are several sites. */
  correlations: CorrelationTable[];
  /** Functional populations per site, in the sites' order (`populations`). */
  populations: SitePopulations[];
  /** The data's 2-D stimulus map (`stimulusMap`); null with `map: false`. */
  stimulusMap: StimulusMap | null;
  /** Near ties of its ablations (singles run here, group ablations) that no float64 path could settle. */
  unresolvedTies: number;
  /** Its ablations' warnings, each once. */
  warnings: string[];
}

/**
 * Characterises the units of the hidden sites (Meyes et al. 2020): `indicators` (magnitude, selectivity, activity,
 * weights and their change from the initial model, ablation impact), their rank `correlations`, functional
 * `populations` and their group ablations, and the `stimulusMap` (skipped with `map: false`). Units as in those verbs:
 * fractions 0..1, impacts as accuracy drops (fractions).
 * @throws LesionError as `indicators` and `populations` (`unknown-site`, `unit-out-of-range`, `bad-model` (also for NaN
 * or infinite weights), `bad-option` (a site with fewer than 3 active units),
 * `shape-mismatch`, `bad-data`, `label-out-of-range`, `unsupported-op`, `engine-disagreement`, `aborted`), and
 * `unwritable-path` when the stimulus map's cache directory cannot be written (checked before any compute).
 */
export async function characterize(model: LesionModel, data: Dataset, options: CharacterizeOptions = {}): Promise<CharacterizeResult> {
  if (options.map !== false) checkStimulusMapCache(data, { seed: options.seed, ...options.map });
  requireFiniteWeights(model, "clustering units into populations");
  const found = await indicators(model, data, options);
  const groups = await populations(model, data, found, options);
  const map = options.map === false ? null : await stimulusMap(data, { seed: options.seed, ...options.map }, { onProgress: options.onProgress, signal: options.signal });
  const unresolvedTies = found.unresolvedTies + groups.reduce((sum, g) => sum + g.unresolvedTies, 0);
  const warnings = [...new Set([...found.warnings, ...groups.flatMap((g) => g.warnings)])];
  return { indicators: found, correlations: correlations(found), populations: groups, stimulusMap: map, unresolvedTies, warnings };
}
