/** The files of a `characterize` run: per site an indicator table (one row per unit) and matrices, a correlation table. */
import type { CharacterizeResult } from "../study/characterize.js";
import type { Provenance } from "./provenance.js";
import { fileStems, LESION_VERSION, type ResultFile } from "./resultDir.js";

/** `lesion characterize`'s summary.json: the result, with the model's hash, the initial model and provenance. */
export interface CharacterizeSummary extends CharacterizeResult {
  /** The lesion version that wrote it. */
  lesion: string;
  /** The verb that wrote the directory. */
  command: "characterize";
  /** SHA-256 (hex) of the model file. */
  modelSha256: string;
  /** The initial model's name (weight-change indicators), or null without one. */
  initial: string | null;
  /** What computed the result and on what (versions, threads, model and data hashes, seed). */
  provenance: Provenance;
  /** The files written beside the summary. */
  files: string[];
}

/**
 * The result files of a `characterize` run, built in memory (written by ResultDir.write): per site
 * `<site>.indicators.csv` (one row per unit, with its hierarchical population ids), `<site>.impact_profile.npy`
 * ([units, classes] accuracy drops), `<site>.populations.json` (every population's units by name, as `groups` takes
 * them) and `<site>.embedding_<pca|tsne|umap>.npy` ([units, 2]); `correlations.csv`; and with a map
 * `stimulus_map.npy` ([samples, 2]) and `stimulus_samples.npy`. Writes nothing; throws no LesionError.
 */
export function characterizeFiles(result: CharacterizeResult, meta: { modelSha256: string; initial: string | null; provenance: Provenance }): { files: ResultFile[]; summary: CharacterizeSummary } {
  const { classNames } = result.indicators;
  const k = classNames.length;
  const files: ResultFile[] = [];
  const stems = fileStems(result.indicators.sites.map((s) => s.site));
  for (const site of result.indicators.sites) {
    const stem = stems.get(site.site)!;
    const groups = result.populations.find((p) => p.site === site.site)!;
    const label = (by: string, method: string) => groups.groupings.find((g) => g.by === by && g.method === method)!.labels;
    const dead = new Set(site.dead);
    const column = (values: number[] | null, u: number) => (values ? values[u] : null);
    files.push({
      name: `${stem}.indicators.csv`,
      kind: "csv",
      header: ["unit", "magnitude", "selectivity", "fractionActive", "dead", "weightL1", "weightL2", "weightChange", "mannWhitneyU", "mannWhitneyP", "impact", "impactMaxClass", "populationActivation", "populationImpact", ...classNames.map((c) => `impact_${c}`)],
      floats: ["magnitude", "selectivity", "fractionActive", "weightL1", "weightL2", "weightChange", "mannWhitneyU", "mannWhitneyP", "impact", ...classNames.map((c) => `impact_${c}`)],
      rows: Array.from({ length: site.units }, (_, u) => [
        u,
        site.magnitude[u],
        site.selectivity[u],
        site.fractionActive[u],
        dead.has(u) ? 1 : 0,
        column(site.weightL1, u),
        column(site.weightL2, u),
        column(site.weightChange, u),
        column(site.mannWhitneyU, u),
        column(site.mannWhitneyP, u),
        site.impact[u],
        site.impactMaxClass[u],
        label("activation", "hierarchical")[u],
        label("impact", "hierarchical")[u],
        ...Array.from({ length: k }, (_, c) => Number(site.impactProfile.data[u * k + c])),
      ]),
    });
    files.push({ name: `${stem}.impact_profile.npy`, kind: "npy", data: Float64Array.from(site.impactProfile.data), shape: site.impactProfile.shape });
    // Every population by name, as `ablate --units @FILE` takes groups (a trial built this from summary.json by hand).
    const named: Record<string, number[]> = {};
    for (const g of groups.groupings) for (const p of g.populations) named[`${g.by} ${g.method} ${p.id}`] = p.units;
    files.push({ name: `${stem}.populations.json`, kind: "bytes", data: new TextEncoder().encode(`${JSON.stringify(named)}\n`) });
    for (const [method, matrix] of Object.entries(groups.embeddings)) {
      if (matrix) files.push({ name: `${stem}.embedding_${method}.npy`, kind: "npy", data: Float64Array.from(matrix.data), shape: matrix.shape });
    }
  }
  files.push({
    name: "correlations.csv",
    kind: "csv",
    header: ["scope", "a", "b", "n", "pearson", "pearsonP", "spearman", "spearmanP"],
    floats: ["pearson", "pearsonP", "spearman", "spearmanP"],
    rows: result.correlations.flatMap((t) => t.entries.map((e) => [t.scope, e.a, e.b, e.n, e.pearson.r, e.pearson.p, e.spearman.r, e.spearman.p])),
  });
  if (result.stimulusMap) {
    const map = result.stimulusMap;
    files.push({ name: "stimulus_map.npy", kind: "npy", data: Float64Array.from(map.coordinates.data), shape: map.coordinates.shape });
    files.push({ name: "stimulus_samples.npy", kind: "npy", data: Int32Array.from(map.samples), shape: [map.samples.length] });
  }
  return { files, summary: { lesion: LESION_VERSION, command: "characterize", ...result, ...meta, files: files.map((f) => f.name) } };
}
