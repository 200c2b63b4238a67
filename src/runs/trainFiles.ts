/**
 * The files of a `lesion train` run: the trained model at the output path, MODEL.initial.onnx (its initial weights)
 * and MODEL.history.json (the history per epoch, the run's identity and both models' SHA-256). The identity lets the
 * same command again find its run finished and train nothing, as a rerun of `recover` does in its result directory,
 * while a run with anything different is still refused (a trained model is hours of work).
 */
import { existsSync, readFileSync } from "node:fs";
import { dataIdentity, type DataIdentity } from "../data/dataIdentity.js";
import type { Dataset } from "../data/types.js";
import { sha256 } from "../files.js";
import { trainingHistory, trainSettings, type TrainOptions, type TrainResult } from "../models/train.js";
import { describeDifference, LESION_VERSION, sameRun } from "./resultDir.js";

/** The paths of a training run's files, from the model's path (`output`). */
export interface TrainPaths {
  /** The trained model, as given. */
  model: string;
  /** Its initial weights: `<stem>.initial.onnx`. */
  initial: string;
  /** Its history and identity: `<stem>.history.json`. */
  history: string;
}

/**
 * What a training run is: everything its model depends on. Two runs with equal identities (compared as JSON, key order
 * aside) train the same model; any two others may not share an output path.
 */
export interface TrainIdentity {
  command: "train";
  /** The architecture, as given. */
  arch: string;
  /** The training data as loaded (before `excludeClasses`): spec, size and SHA-256 of its content. */
  data: DataIdentity;
  /** The test data as loaded; null without one. */
  test: DataIdentity | null;
  /** The classes left out of the training data, ascending, each once. */
  excludeClasses: number[];
  /** The input normalisation stored in the model; null: train's default. */
  mean: number[] | null;
  std: number[] | null;
  /** The optimisation settings, defaults filled in (trainSettings). */
  options: TrainResult["options"];
}

/** MODEL.history.json: trainingHistory's content, and what a rerun is checked against. */
export interface TrainHistoryFile extends ReturnType<typeof trainingHistory> {
  /** The lesion version that trained the model. */
  lesion: string;
  /** The run's identity. */
  run: TrainIdentity;
  /** SHA-256 of the model and of the initial model written beside this file (a run killed between them leaves others). */
  sha256: { model: string; initial: string };
}

/** Whether a training run's files are there: finished (the same run), or not (`reason` what differs; null: unknown). */
export type TrainedBefore = { finished: true } | { finished: false; reason: string | null };

/** The files of the training run whose model goes to `output`. Throws nothing. */
export function trainPaths(output: string): TrainPaths {
  const stem = output.replace(/\.onnx$/i, "");
  return { model: output, initial: `${stem}.initial.onnx`, history: `${stem}.history.json` };
}

/**
 * The identity of a run of `train(data, options)`. Hashes the data (~50 ms for MNIST's test set).
 * @throws LesionError `bad-option` (settings train refuses: trainSettings).
 */
export function trainIdentity(data: Dataset, options: TrainOptions): TrainIdentity {
  return {
    command: "train",
    arch: options.arch,
    data: dataIdentity(data),
    test: options.test ? dataIdentity(options.test) : null,
    excludeClasses: [...new Set(options.excludeClasses ?? [])].sort((a, b) => a - b),
    mean: options.mean ?? null,
    std: options.std ?? null,
    options: trainSettings(options),
  };
}

/** The content of MODEL.history.json for `result`, a run of identity `run`. Throws nothing. */
export function trainHistoryFile(result: TrainResult, run: TrainIdentity): TrainHistoryFile {
  return { ...trainingHistory(result), lesion: LESION_VERSION, run, sha256: { model: sha256(result.model), initial: sha256(result.initial) } };
}

/**
 * Whether the files at `paths` are a finished run of identity `run`: all three there, the history's identity equal to
 * `run`, written by this version of lesion (another may train another model), and both models the ones it records.
 * Otherwise `reason` names what differs, or is null where the history records no identity (an earlier lesion's, or
 * files not all there). Reads only; throws nothing.
 */
export function trainedBefore(paths: TrainPaths, run: TrainIdentity): TrainedBefore {
  if (![paths.model, paths.initial, paths.history].every((path) => existsSync(path))) return { finished: false, reason: null };
  let previous: Partial<TrainHistoryFile>;
  try {
    previous = JSON.parse(readFileSync(paths.history, "utf8")) as Partial<TrainHistoryFile>;
  } catch {
    return { finished: false, reason: null };
  }
  if (!previous?.run || typeof previous.run !== "object") return { finished: false, reason: null };
  if (!sameRun(previous.run, run)) return { finished: false, reason: `another training run: ${describeDifference(previous.run, run)}` };
  if (previous.lesion !== LESION_VERSION) return { finished: false, reason: `trained by lesion ${previous.lesion ?? "unknown"}, this is ${LESION_VERSION}` };
  const hashOf = (path: string) => {
    try {
      return sha256(readFileSync(path));
    } catch {
      return null;
    }
  };
  if (hashOf(paths.model) !== previous.sha256?.model || hashOf(paths.initial) !== previous.sha256?.initial) return { finished: false, reason: `the models are not the ones ${paths.history} records` };
  return { finished: true };
}
