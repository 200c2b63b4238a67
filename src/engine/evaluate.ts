/** Evaluation of an intact model: accuracy overall and per class, confusion matrix, mean cross-entropy loss. */
import type { Dataset } from "../data/types.js";
import { checkData, forEachBatch } from "./forward.js";
import { getSession, type LesionModel } from "./model.js";
import type { Progress } from "../progress.js";
import { crossEntropy } from "./sweep/logits.js";
import { classCounts, type Matrix } from "./metrics.js";

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Samples per onnxruntime run. Default 1024; for a network with conv sites, as many as keep its largest site tensor under 4 MiB a run (batchRows). */
  batchSize?: number;
  /** Progress events, phase "evaluate": `done` of `total` samples. */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** What `evaluate` measured: the intact network on one data set (`lesion eval --json`). */
export interface EvaluateResult {
  /** The model's name. */
  model: string;
  /** SHA-256 of the model file (hex), as `AblateResult.modelSha256`: which bytes computed the result. */
  modelSha256: string;
  /** The data's normalised spec. */
  data: string;
  /** Number of samples. */
  n: number;
  /** Fraction of samples classified correctly, 0..1. */
  accuracy: number;
  /** Per class, in class order: fraction of that class's samples classified correctly; null for a class with no samples. */
  perClass: Array<number | null>;
  /** Samples per class in the data. */
  classCounts: number[];
  /** One name per class: the model's, else the data's when it has K classes, else "0".."K−1". */
  classNames: string[];
  /** confusion[true][predicted] counts, shape [K, K]. */
  confusion: Matrix;
  /**
   * Mean softmax cross-entropy of the logits (natural log). For a graph ending in a probability head it is computed
   * from the logits before the head, so it is the network's own −log p of the true class (src/onnx/head.ts).
   */
  loss: number;
  /** Problems that do not stop the run: non-finite weights, and a model that records no input normalisation. */
  warnings: string[];
}

/**
 * The intact network on `data`: accuracy and per-class accuracy (fractions 0..1; null for a class without samples), the
 * confusion matrix ([K, K] counts, rows true class, columns predicted) and the mean softmax cross-entropy (natural log,
 * from the logits before any probability head). Predictions are argmax of the logits, ties toward the lower class.
 * @throws LesionError `shape-mismatch` (images of another shape than the model takes), `bad-data` (an image folder not
 * matched to the model's classes), `label-out-of-range` (a label beyond the model's classes); `bad-option` (a
 * `batchSize` below 1); `bad-model` (onnxruntime cannot run the graph); `aborted` (options.signal).
 */
export async function evaluate(model: LesionModel, data: Dataset, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  checkData(model, data);
  const k = model.numClasses;
  const session = await getSession(model, "plain", () => model.proto);
  const confusion = new Float64Array(k * k);
  let lossSum = 0;
  let done = 0;
  await forEachBatch(model, session, data, options, ({ start, count, values }) => {
    const logits = values[model.outputName];
    for (let i = 0; i < count; i++) {
      const row = logits.subarray(i * k, (i + 1) * k);
      const label = data.labels[start + i];
      let best = 0;
      for (let c = 1; c < k; c++) if (row[c] > row[best]) best = c;
      confusion[label * k + best]++;
      lossSum += crossEntropy(row, label);
    }
    done += count;
    options.onProgress?.({ phase: "evaluate", done, total: data.n });
  });
  const counts = classCounts(data.labels, k);
  let correct = 0;
  for (let c = 0; c < k; c++) correct += confusion[c * k + c];
  const accuracy = correct / data.n;
  return {
    model: model.name,
    modelSha256: model.sha256,
    data: data.spec,
    n: data.n,
    accuracy,
    perClass: counts.map((total, c) => (total === 0 ? null : confusion[c * k + c] / total)),
    classCounts: counts,
    classNames: classNames(model, data),
    confusion: { data: Array.from(confusion), shape: [k, k] },
    loss: lossSum / data.n,
    warnings: [...model.warnings, ...(model.preprocessingRecorded ? [] : [unrecordedNormalisationWarning(model)]), ...chanceWarning(model, data, accuracy, counts)],
  };
}

/**
 * A network no better than always answering the data's most frequent class is studied on data it does not know, or
 * given its inputs otherwise than it was trained on: every ablation after would measure noise (a trial's MNIST
 * network on Fashion-MNIST, 5.50 %, ran a whole study without a word). Said from 100 samples of two classes or more on.
 */
function chanceWarning(model: LesionModel, data: Dataset, accuracy: number, counts: number[]): string[] {
  // Data of one class (a user's look at the 3s alone) has no chance level to compare with.
  const majority = Math.max(...counts) / data.n;
  if (data.n < 100 || counts.filter((c) => c > 0).length < 2 || accuracy > majority) return [];
  const percent = (x: number) => `${(100 * x).toFixed(2)}%`;
  return [`${model.name} scores ${percent(accuracy)} on ${data.spec}, no better than always answering its most frequent class (${percent(majority)}): check that this is the data it was trained for, given as it was trained (lesion info shows the input normalisation it records)`];
}

/**
 * A graph exported as it is carries no input normalisation, and a network trained on normalised images scores far
 * below its accuracy on [0,1] pixels without any error (a new-user trial: a CIFAR-10 ResNet-18 export at 18.4 %, 70.7 %
 * once imported with its mean and std). Said wherever such a model is evaluated; `importModel` records a mean and std.
 */
export function unrecordedNormalisationWarning(model: LesionModel): string {
  // A command line, the same in the summary's warnings as on the console (a trial: \`mean\` in JSON, --mean on stderr).
  return `${model.name} records no input normalisation, so it is given the pixels in [0,1] as they are: if it was trained on normalised images (transforms.Normalize, Keras Normalization outside the model), record its mean and std by importing it (lesion import ${model.name} --mean … --std … -o OUT.onnx; in the library importModel(path, { mean, std })); a model that rescales in its graph (Keras Rescaling(1/255)) takes pixels in 0..255: mean 0, std 0.00392156862745098 (import without them records that it takes [0,1])`;
}

/** The model's class names, else the data's when it has as many classes, else "0".."K−1". */
export function classNames(model: LesionModel, data: Dataset): string[] {
  if (model.classNames) return model.classNames;
  if (data.classNames.length === model.numClasses) return data.classNames;
  return Array.from({ length: model.numClasses }, (_, c) => String(c));
}
