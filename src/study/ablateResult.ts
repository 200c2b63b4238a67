/** What `ablate` takes and returns: its options, one condition's outcome, a pair's redundancy and the whole result. */
import type { Agreement } from "../engine/agreement.js";
import type { Matrix } from "../engine/metrics.js";
import type { SweepPath } from "../engine/sweep/sweep.js";
import type { Progress } from "../progress.js";
import type { Condition, CumulativeStep } from "./conditions.js";

/** Options of `ablate`. */
export interface AblateOptions {
  /** What to knock out: build with singles, pairs, groups or fractions. */
  conditions: Condition[];
  /** Compute each condition's mean loss. Default true (false lets pair sweeps skip rows that cannot flip). */
  loss?: boolean;
  /** Include each condition's confusion matrix. Default false. */
  confusion?: boolean;
  /**
   * Path of the resume log: conditions are appended there as the engine finishes them and a rerun resumes from it. The
   * engine finishes them in blocks (its unit of work: on a dense site often all of the site's conditions at once), so
   * an abort inside a site's first block leaves nothing of that site to resume. Default: none.
   */
  resumeLog?: string;
  /**
   * Keep the resume log at the end, for a caller that removes it once results are written (ResultDir.write). Default
   * false.
   */
  keepResumeLog?: boolean;
  /**
   * Samples per onnxruntime run where the whole graph runs. Default 1024; for a network with conv sites, as many as
   * keep its largest site tensor under 4 MiB a run (batchRows).
   */
  batchSize?: number;
  /**
   * Progress events: phase "ablate" (`done` of `total` conditions, `detail` the site); once "resume" when the log held
   * some.
   */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`; the resume log keeps the finished blocks. */
  signal?: AbortSignal;
}

/**
 * A pair's redundancy (Meyes et al. 2019): intact-correct samples lost only when both units are ablated, kept when
 * either is alone.
 */
export interface Redundancy {
  /** Σ_c perClass[c] · n_c / n over the classes where perClass is defined (a class with none adds 0); 0..1. */
  overall: number;
  /** Per class: fraction of the class's intact-correct samples lost only jointly; null for a class with none. */
  perClass: Array<number | null>;
}

/**
 * One condition's outcome. Per-class arrays are [classes] in class order, null for a class without samples; counts are
 * samples.
 */
export interface ConditionResult {
  /** `Condition.id` (CSV row key). */
  id: string;
  /** The site's name. */
  site: string;
  /** The ablated units, ascending. */
  units: number[];
  /** See AblationMode. */
  mode: "zero" | "mean";
  /** A group's or fraction step's name; null for singles and pairs. */
  label: string | null;
  /** A step of a cumulative ablation (fractions): its fraction, order, repeat and units in the order added. */
  cumulative?: CumulativeStep;
  /** Accuracy with the condition, a fraction 0..1. */
  accuracy: number;
  /** Per-class accuracy with the condition, fractions 0..1. */
  perClass: Array<number | null>;
  /** Signed change from the intact network: negative is a loss, positive a gain. */
  delta: number;
  /** Per class: ablated − intact accuracy, a signed fraction (from counts: −9/10000 is exactly −0.0009). */
  deltaPerClass: Array<number | null>;
  /** Samples the intact network gets right and this condition gets wrong. */
  lost: number;
  /** Samples the intact network gets wrong and this condition gets right. */
  gained: number;
  /**
   * Mean cross-entropy (null without loss), to 9 significant digits as the resume log keeps it (`baseline.loss`: full).
   */
  loss: number | null;
  /** For pairs: samples lost only jointly. Null for other conditions. */
  redundancy: Redundancy | null;
  /** confusion[true][predicted] counts [classes, classes] with the condition, with `options.confusion`; else null. */
  confusion: Matrix | null;
}

/**
 * What `ablate` measured: the intact baseline and one result per condition (`lesion ablate`'s summary.json holds it).
 */
export interface AblateResult {
  /** The model's name. */
  model: string;
  /** SHA-256 (hex) of the model file. */
  modelSha256: string;
  /** The data's normalised spec. */
  data: string;
  /** Number of samples. */
  n: number;
  /** One name per class, in class order. */
  classNames: string[];
  /** Samples per class [classes]. */
  classCounts: number[];
  /**
   * The intact network: accuracy and per-class accuracy (fractions 0..1, null for an empty class), mean cross-entropy
   * (nats).
   */
  baseline: { accuracy: number; perClass: Array<number | null>; loss: number };
  /** One result per condition asked for, in that order (the extra singles redundancy needs are not reported). */
  conditions: ConditionResult[];
  /** Per condition (same order), the samples whose prediction changed and their new predictions. */
  changes: Array<{ samples: Int32Array; predictions: Int32Array }>;
  /** Intact predictions, float64-exact. */
  predictions: Int32Array;
  /** The data's labels [n], in sample order (the order of `predictions` and of the changed samples). */
  labels: Int32Array;
  /**
   * Per site with `mean` conditions, the value each unit was set to: its mean over the data (and positions) [units].
   */
  means?: Record<string, number[]>;
  /** The intact predictions checked against a plain forward pass of the unmodified graph (see agreement.ts). */
  agreement: Agreement;
  /**
   * Near ties that could not be settled in float64 (an op without a float64 kernel in onnxruntime or lesion); 0 means
   * every prediction is exact.
   */
  unresolvedTies: number;
  /**
   * Per site: "dense" where the site is a layer of a dense chain (its zero ablations of up to DENSE_UNITS units run on
   * the dense engine; others on the general one), "delta" where its next Conv or Gemm takes a zero ablation of up to 8
   * channels as a delta (src/engine/sweep/convSweep.ts; others on the general one), "masked" otherwise, and where no
   * condition of the site took its dense or delta path (mean ablations, larger groups).
   */
  engine: Record<string, SweepPath>;
  /**
   * Problems worth a user's attention that do not stop the run: non-finite (NaN or infinite) weights, near ties left
   * unresolved. A zero-ablated unit is exactly 0 even then; a model with non-finite weights runs on the general engine
   * (`engine` says "masked").
   */
  warnings: string[];
  /** Wall-clock seconds the call took. */
  elapsedSeconds: number;
}
