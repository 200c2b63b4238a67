/** The one place onnxruntime-node is imported; sessions are created with pinned options. */
import { availableParallelism } from "node:os";
import ort from "onnxruntime-node";

export type OrtSession = ort.InferenceSession;
export const OrtTensor = ort.Tensor;
export type OrtTensor = ort.Tensor;

/** The onnxruntime-node version that computes every result (for provenance). */
export const ORT_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

/** onnxruntime's graph optimisation level, pinned for every session (see createSession). */
export const GRAPH_OPTIMIZATION_LEVEL = "basic";

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Graph optimisation is pinned to "basic" (constant folding, redundant nodes) so the fusions chosen never depend on
 * which graph variant runs; masks are inputs, so nothing about a condition is folded away.
 */
export async function createSession(bytes: Uint8Array, threads: number): Promise<OrtSession> {
  return ort.InferenceSession.create(bytes, {
    graphOptimizationLevel: GRAPH_OPTIMIZATION_LEVEL,
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    enableCpuMemArena: true,
    // Warnings (unused initializers of generated graphs) would reach users' terminals; errors still throw.
    logSeverityLevel: 3,
  });
}
