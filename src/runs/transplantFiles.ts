/**
 * The files of a `transplant` run: the merged model, one CSV per condition (one row per repeat: accuracy overall and
 * per class), `gains.csv` (every condition's gains and the transplant-minus-control differences with their
 * intervals), and the summary.
 */
import type { TransplantResult } from "../transplant/transplant.js";
import type { Gains } from "../transplant/transplantStats.js";
import { LESION_VERSION, type ResultFile } from "./resultDir.js";

/** `lesion transplant`'s summary.json: the result without the model's bytes (`model.onnx`) and the budget's indices. */
export interface TransplantSummary extends Omit<TransplantResult, "model" | "budget"> {
  /** The lesion version that wrote it. */
  lesion: string;
  /** The verb that wrote the directory. */
  command: "transplant";
  /** As the result's, the drawn samples' indices in `budget_samples.npy` (named by `indicesFile`) instead of inline. */
  budget: Omit<TransplantResult["budget"], "indices"> & { indicesFile: string | null };
  /** The files written beside the summary. */
  files: string[];
}

export const BUDGET_FILE = "budget_samples.npy";

/**
 * The result files of a `transplant` run, built in memory (written by ResultDir.write): `model.onnx` (the merged
 * network), `<condition>.csv` per condition (a "before" row, then one row per repeat: accuracy and per-class accuracy,
 * fractions), `gains.csv` (gains and transplant-minus-control differences with their interval bounds) and, for a drawn
 * budget, `budget_samples.npy` (int32 indices into the data). Writes nothing; throws nothing.
 */
export function transplantFiles(result: TransplantResult): { files: ResultFile[]; summary: TransplantSummary } {
  // Per-class columns named by class, as ablate's (`accuracy_<class>`).
  const perClass = result.classNames.map((c) => `accuracy_${c}`);
  const conditions = ["transplant", ...result.controls.map((c) => c.name)];
  const gainRow = (name: string, kind: string, g: Gains) => [
    name,
    kind,
    ...(["overall", "target", "others"] as const).flatMap((key) => [g[key]?.estimate ?? null, g[key]?.low ?? null, g[key]?.high ?? null]),
  ];
  const files: ResultFile[] = [
    { name: "model.onnx", kind: "bytes", data: result.model },
    ...conditions.map((name): ResultFile => ({
      name: `${name}.csv`,
      kind: "csv",
      header: ["condition", "seed", "accuracy", ...perClass],
      floats: ["accuracy", ...perClass],
      rows: [
        ["before", null, result.before.accuracy, ...result.before.perClass],
        ...result.repeats.filter((r) => r.condition === name).map((r) => [r.condition, r.seed, r.after.accuracy, ...r.after.perClass]),
      ],
    })),
    {
      name: "gains.csv",
      kind: "csv",
      header: ["condition", "kind", "overall", "overall_low", "overall_high", "target", "target_low", "target_high", "others", "others_low", "others_high"],
      floats: ["overall", "overall_low", "overall_high", "target", "target_low", "target_high", "others", "others_low", "others_high"],
      rows: [...result.gains.map((g) => gainRow(g.condition, "gain", g)), ...result.versusControls.map((d) => gainRow(`transplant-${d.control}`, "difference", d))],
    },
  ];
  // Which images a drawn budget holds (indices into --data, ascending, int32), so the population can be recomputed.
  const { indices, ...budget } = result.budget;
  if (indices) files.push({ name: BUDGET_FILE, kind: "npy", data: Int32Array.from(indices), shape: [indices.length] });
  const { model: _model, budget: _budget, ...rest } = result;
  return { files, summary: { lesion: LESION_VERSION, command: "transplant", ...rest, budget: { ...budget, indicesFile: indices ? BUDGET_FILE : null }, files: files.map((f) => f.name) } };
}
