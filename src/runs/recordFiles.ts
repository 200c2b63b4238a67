/** The files of a `record` run: per site a CSV (one row per unit) and the class-mean matrix, plus samples on request. */
import type { RecordOptions, RecordResult } from "../engine/record.js";
import type { Provenance } from "./provenance.js";
import { fileStems, LESION_VERSION, type ResultFile } from "./resultDir.js";

/** `lesion record`'s summary.json: the result (per-sample matrices left to their .npy files), options and provenance. */
export interface RecordSummary extends RecordResult {
  /** The lesion version that wrote it. */
  lesion: string;
  /** The verb that wrote the directory. */
  command: "record";
  modelSha256: string;
  /** The sites recorded, and whether per-sample activations were kept. */
  options: { sites: string[]; samples: boolean };
  /** What computed the result and on what (versions, threads, model and data hashes, seed). */
  provenance: Provenance;
  /** Files written beside the summary, per site. */
  files: Record<string, string[]>;
}

/**
 * The result files of a `record` run, built in memory (write them with ResultDir.write or writeResultDir): per site
 * `<site>.csv` (one row per unit: mean, std, max, fractionActive, dead, mean per class; empty for a class without
 * samples), `<site>.class_means.npy` ([classes, units] float64) and, with `options.samples`, `<site>.samples.npy`
 * ([n, units] float32). Writes nothing; throws nothing.
 */
export function recordFiles(result: RecordResult, modelSha256: string, options: RecordOptions, provenance: Provenance): { files: ResultFile[]; summary: RecordSummary } {
  const files: ResultFile[] = [];
  const listed: Record<string, string[]> = {};
  const stems = fileStems(result.sites.map((s) => s.site));
  for (const site of result.sites) {
    const stem = stems.get(site.site)!;
    const dead = new Set(site.dead);
    const k = result.classNames.length;
    const means = site.classMeans.data;
    files.push({
      name: `${stem}.csv`,
      kind: "csv",
      header: ["unit", "mean", "std", "max", "fractionActive", "dead", ...result.classNames.map((c) => `mean_${c}`)],
      floats: ["mean", "std", "max", "fractionActive", ...result.classNames.map((c) => `mean_${c}`)],
      rows: site.mean.map((m, u) => [u, m, site.std[u], site.max[u], site.fractionActive[u], dead.has(u) ? 1 : 0, ...Array.from({ length: k }, (_, c) => (site.emptyClasses.includes(c) ? null : Number(means[c * site.units + u])))]),
    });
    files.push({ name: `${stem}.class_means.npy`, kind: "npy", data: Float64Array.from(means), shape: site.classMeans.shape });
    listed[site.site] = [`${stem}.csv`, `${stem}.class_means.npy`];
    if (site.samples) {
      files.push({ name: `${stem}.samples.npy`, kind: "npy", data: Float32Array.from(site.samples.data), shape: site.samples.shape });
      listed[site.site].push(`${stem}.samples.npy`);
    }
  }
  const summary: RecordSummary = {
    lesion: LESION_VERSION,
    command: "record",
    ...result,
    modelSha256,
    // Per-sample matrices live in their .npy files only; the summary stays small.
    sites: result.sites.map((s) => ({ ...s, samples: null })),
    options: { sites: result.sites.map((s) => s.site), samples: options.samples ?? false },
    provenance,
    files: listed,
  };
  return { files, summary };
}
