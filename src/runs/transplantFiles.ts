/**
 * The files of a `transplant` run: the merged model, one CSV per condition (one row per repeat: accuracy overall and
 * per class), `gains.csv` (every condition's gains and the transplant-minus-control differences with their
 * intervals), and the summary.
 */
import type { TransplantResult } from "../transplant/transplant.js";
import type { Gains } from "../transplant/transplantStats.js";
import { LESION_VERSION, type ResultFile } from "./resultDir.js";

export interface TransplantSummary extends Omit<TransplantResult, "model"> {
  lesion: string;
  command: "transplant";
  files: string[];
}

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
      rows: [
        ["before", null, result.before.accuracy, ...result.before.perClass],
        ...result.repeats.filter((r) => r.condition === name).map((r) => [r.condition, r.seed, r.after.accuracy, ...r.after.perClass]),
      ],
    })),
    {
      name: "gains.csv",
      kind: "csv",
      header: ["condition", "kind", "overall", "overall_low", "overall_high", "target", "target_low", "target_high", "others", "others_low", "others_high"],
      rows: [...result.gains.map((g) => gainRow(g.condition, "gain", g)), ...result.versusControls.map((d) => gainRow(`transplant-${d.control}`, "difference", d))],
    },
  ];
  const { model: _model, ...rest } = result;
  return { files, summary: { lesion: LESION_VERSION, command: "transplant", ...rest, files: files.map((f) => f.name) } };
}
