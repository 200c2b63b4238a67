/**
 * The agreement check: the intact predictions a sweep reports (from the dense engine's cached pass or the masked
 * graph with all-ones masks, ties re-decided in float64) are compared with a plain forward pass of the unmodified
 * graph, an independent path through onnxruntime. They must be the same class on every sample; the only allowed
 * difference is a near tie, where the plain float32 pass's top two logits are within TIE_MARGIN (the margin under
 * which the engine re-decides a row in float64, sweep/logits.ts) and the engine chose the second (float32 cannot order them; the engine's float64 decision stands). Anything else fails the run
 * with `engine-disagreement`: a result computed through surgery that does not reproduce the intact network is wrong.
 */
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { forEachBatch } from "./forward.js";
import { getSession, memoized, type LesionModel } from "./model.js";
import { decide } from "./sweep/logits.js";

/** The outcome of the agreement check (see the module comment), in every ablation result. */
export interface Agreement {
  /** Samples compared. */
  samples: number;
  /** Samples whose plain float32 top two logits nearly tie and where the engine chose the second one. */
  nearTies: number;
}

interface PlainTop {
  best: Int32Array;
  second: Int32Array;
  /** Whether the top two are within TIE_MARGIN. */
  tied: Uint8Array;
}

/**
 * Checks the engine's intact `predictions` (int32 [n], one class per sample of `data`) against a plain forward pass
 * of the unmodified graph (computed once per model and data set while the model is open). Throws
 * `engine-disagreement` naming how many samples and the first one when they differ beyond a near tie.
 */
export async function checkAgreement(model: LesionModel, data: Dataset, predictions: Int32Array, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<Agreement> {
  const top = await memoized(model, data, "plain-top", () => plainTop(model, data, options));
  let nearTies = 0;
  let disagreements = 0;
  let first = -1;
  for (let s = 0; s < data.n; s++) {
    const p = predictions[s];
    if (p === top.best[s]) continue;
    if (top.tied[s] && p === top.second[s]) {
      nearTies++;
      continue;
    }
    if (first < 0) first = s;
    disagreements++;
  }
  if (disagreements > 0) {
    fail(
      "engine-disagreement",
      `the intact predictions of ${model.name} on ${data.spec} disagree with a plain forward pass of the unmodified graph on ${disagreements} of ${data.n} samples (first: sample ${first}, engine class ${predictions[first]}, plain class ${top.best[first]}); no result was written — please report this with the model`,
      { samples: disagreements, first, engine: predictions[first], plain: top.best[first] },
    );
  }
  return { samples: data.n, nearTies };
}

async function plainTop(model: LesionModel, data: Dataset, options: { batchSize?: number; signal?: AbortSignal }): Promise<PlainTop> {
  const k = model.numClasses;
  const session = await getSession(model, "plain", () => model.proto);
  const best = new Int32Array(data.n);
  const second = new Int32Array(data.n);
  const tied = new Uint8Array(data.n);
  await forEachBatch(model, session, data, options, ({ start, count, values }) => {
    const logits = values[model.outputName];
    for (let i = 0; i < count; i++) {
      const row = logits.subarray(i * k, (i + 1) * k);
      const decision = decide(row);
      const b = decision < 0 ? -1 - decision : decision;
      let t = b === 0 ? 1 : 0;
      for (let c = 0; c < k; c++) if (c !== b && row[c] > row[t]) t = c;
      best[start + i] = b;
      second[start + i] = t;
      tied[start + i] = decision < 0 ? 1 : 0;
    }
  });
  return { best, second, tied };
}
