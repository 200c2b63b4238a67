/**
 * A finished condition of `ablate` as the run keeps it (StoredOutcome) and as its resume log holds it (LoggedOutcome):
 * the log's changed samples and predictions are base64 of their int32 bytes, ~10× faster to write and read back than
 * JSON arrays of numbers; a log that an earlier version wrote (plain arrays) is read too.
 */
import type { SweepOutcome } from "../engine/sweep/types.js";

/** A finished condition, as the run keeps it. */
export interface StoredOutcome {
  id: string;
  correctPerClass: number[];
  changed: Int32Array;
  changedPredictions: Int32Array;
  lossSum: number | null;
}

/** A finished condition as the resume log holds it: base64 of the int32 bytes (little-endian, as every platform Node runs on), or an earlier version's arrays. */
export interface LoggedOutcome {
  id: string;
  correctPerClass: number[];
  changed: string | number[];
  changedPredictions: string | number[];
  lossSum: number | null;
}

/** The intact network's outcome, the resume log's first record after its header. */
export interface StoredIntact {
  id: string;
  predictions: number[];
  correctPerClass: number[];
  lossSum: number;
}

/** A sweep's outcome of condition `id`, its loss sum rounded to 9 significant digits (null without loss). */
export function stored(id: string, outcome: SweepOutcome, loss: boolean): StoredOutcome {
  return {
    id,
    correctPerClass: outcome.correctPerClass,
    changed: outcome.changed,
    changedPredictions: outcome.changedPredictions,
    // Rounded to float32-level precision, so a resumed run (other batch boundaries) writes the same bytes.
    lossSum: loss && outcome.lossSum !== null ? Number(outcome.lossSum.toPrecision(9)) : null,
  };
}

/** The resume log's record of an outcome. */
export function toLog(outcome: StoredOutcome): LoggedOutcome {
  return { ...outcome, changed: base64Of(outcome.changed), changedPredictions: base64Of(outcome.changedPredictions) };
}

/** An outcome back from its resume log record (either encoding). */
export function fromLog(record: LoggedOutcome): StoredOutcome {
  return { ...record, changed: int32sOf(record.changed), changedPredictions: int32sOf(record.changedPredictions) };
}

function base64Of(values: Int32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64");
}

function int32sOf(logged: string | number[]): Int32Array {
  if (Array.isArray(logged)) return Int32Array.from(logged);
  const bytes = Buffer.from(logged, "base64");
  // Copied into an array of its own: a Buffer may sit in a shared pool at an offset that is no multiple of 4.
  const values = new Int32Array(bytes.length / 4);
  new Uint8Array(values.buffer).set(bytes);
  return values;
}
