/** The one place onnxruntime-node is imported; sessions are created with pinned options. */
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import type Ort from "onnxruntime-node";

// require, not import: onnxruntime-node is CommonJS only, so this is the same module object, without the ESM loader's
// scan of its (and onnxruntime-common's) source for named exports at every start.
const ort = createRequire(import.meta.url)("onnxruntime-node") as typeof Ort;
// onnxruntime's own log lines reach users' terminals in colour beside lesion's one-line errors (a $HOME it cannot
// write: "Failed to persist telemetry device ID"; a failed run's error, which the exception carries anyway); set
// before the first session creates the environment.
ort.env.logLevel = "fatal";

export type OrtSession = Ort.InferenceSession;
export const OrtTensor = ort.Tensor;
export type OrtTensor = Ort.Tensor;

/** The onnxruntime-node version that computes every result (for provenance). */
export const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

/** onnxruntime's graph optimisation level, pinned for every session (see createSession). */
export const GRAPH_OPTIMIZATION_LEVEL = "basic";

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Graph optimisation is pinned to "basic" (constant folding, redundant nodes) so the fusions chosen never depend on
 * which graph variant runs; masks are inputs, so nothing about a condition is folded away. The conv sweep path asks
 * for "all" (onnxruntime's NCHWc convolution kernels: ~3× faster on the VGG fixture, bench/cnn.mjs); its float32
 * results then differ from "basic" ones by rounding only, and near ties are settled in float64 either way.
 * `memoryArena: false` (getSession's choice for models with conv sites) runs without onnxruntime's CPU memory arena:
 * an arena keeps the peak memory of its session's largest run for the session's lifetime, and a study holds two
 * sessions per site (prefix and masked suffix) open until the model closes, so on CNNs, whose activations are large,
 * the arenas added up to gigabytes (the VGG fixture's study: 3.2 GiB peak RSS, bench/study-memory.mjs). Without, each
 * run's buffers are freed when it ends. Default true (MLPs' small runs and training keep the arena).
 */
export async function createSession(bytes: Uint8Array, threads: number, options: SessionOptions = {}): Promise<OrtSession> {
  return ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: options.optimization ?? GRAPH_OPTIMIZATION_LEVEL,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    enableCpuMemArena: options.memoryArena ?? true,
    // Warnings (unused initializers of generated graphs) and errors would reach users' terminals; errors still throw.
    logSeverityLevel: 4,
    // Pool threads sleep when a run ends rather than spin for the next one, unless asked (`spinning`). Spinning took
    // cores from everything else: on this project's 2-core machine, with one other busy process, mlp100x3's h0 pairs
    // with loss took 30–41 s spinning and 13–16 s not; idle, not spinning cost them ~6–11 % and made an MLP's training
    // and the standard sweep ~7–10 % faster (farm-bench, paired).
    ...(options.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } }),
  });
}

/**
 * createSession's choices: graph optimisation ("basic" default), onnxruntime's CPU memory arena (default on), and
 * whether its pool threads spin between runs (default false: see createSession).
 */
export interface SessionOptions {
  optimization?: "basic" | "all";
  memoryArena?: boolean;
  spinning?: boolean;
}
