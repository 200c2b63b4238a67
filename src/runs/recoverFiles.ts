/** The files of a `recover` run: the retrained model (and the control's), a CSV with one row per epoch, and the summary. */
import type { RecoverResult } from "../models/recover.js";
import type { Provenance } from "./provenance.js";
import { LESION_VERSION, type ResultFile } from "./resultDir.js";

export interface RecoverSummary extends Omit<RecoverResult, "retrained" | "controlModel"> {
  lesion: string;
  command: "recover";
  /** What computed the result and on what (versions, threads, model and data hashes, seed). */
  provenance: Provenance;
  files: string[];
}

export function recoverFiles(result: RecoverResult, provenance: Provenance): { files: ResultFile[]; summary: RecoverSummary } {
  const k = result.intact.perClass.length;
  const header = ["epoch", "trainLoss", "accuracy", "loss", "recovered", ...result.classNames.map((c) => `accuracy_${c}`), ...result.classNames.map((c) => `recovered_${c}`), ...(result.control ? ["controlTrainLoss", "controlAccuracy", "controlLoss", ...result.classNames.map((c) => `control_accuracy_${c}`)] : [])];
  const files: ResultFile[] = [
    { name: "model.onnx", kind: "bytes", data: result.retrained },
    {
      name: "recovery.csv",
      kind: "csv",
      // With the control (the intact network retrained with the same budget), its training loss and accuracy per epoch, overall and per class, come last.
      // Per-class columns named by class, as ablate's (`accuracy_<class>`).
      header,
      floats: header.slice(1),
      rows: [
        // Before retraining nothing is recovered (0), where the ablation cost something: else, as in the epochs' rows, undefined.
        [0, null, result.ablated.accuracy, result.ablated.loss, atStart(result.ablated.accuracy, result.intact.accuracy), ...result.ablated.perClass, ...result.ablated.perClass.map((a, c) => atStart(a, result.intact.perClass[c])), ...(result.control ? [null, result.intact.accuracy, result.intact.loss, ...result.intact.perClass] : [])],
        ...result.epochs.map((e, i) => [e.epoch, e.trainLoss, e.accuracy, e.loss, e.recovered, ...e.perClass, ...e.recoveredPerClass, ...(result.control ? [result.control[i].trainLoss, result.control[i].accuracy, result.control[i].loss, ...result.control[i].perClass] : [])]),
      ],
    },
  ];
  // The control network too, so that its accuracy can be checked (lesion eval) as the retrained one's can.
  if (result.controlModel) files.push({ name: "control.onnx", kind: "bytes", data: result.controlModel });
  const { retrained: _model, controlModel: _control, ...rest } = result;
  return { files, summary: { lesion: LESION_VERSION, command: "recover", ...rest, provenance, files: files.map((f) => f.name) } };
}

/** The recovered fraction before retraining: 0 where the ablation lowered the accuracy, else undefined (null). */
function atStart(ablated: number | null, intact: number | null): number | null {
  return ablated === null || intact === null || intact - ablated <= 0 ? null : 0;
}
