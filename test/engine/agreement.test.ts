/**
 * The agreement check: ablate's intact predictions must equal a plain forward pass of the unmodified graph. It passes
 * on every ordinary run and fails the run with engine-disagreement when the engine's intact predictions are made wrong
 * (a crafted resume log whose stored intact network disagrees).
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { isLesionError } from "../../src/errors.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { checkAgreement } from "../../src/engine/agreement.js";
import { singles } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { random, randomCnn, randomMlp } from "../helpers.js";

let mlp: LesionModel;
let cnn: LesionModel;
let flat: Dataset;
let images: Dataset;

function dataset(n: number, shape: [number, number, number], classes: number, seed: number): Dataset {
  const rand = random(seed);
  const size = shape[0] * shape[1] * shape[2];
  return { spec: `test:${seed}`, n, shape, images: Float32Array.from({ length: n * size }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % classes), numClasses: classes, classNames: Array.from({ length: classes }, (_, c) => String(c)), source: "test" };
}

beforeAll(async () => {
  mlp = await openModel(randomMlp([16, 10, 8, 3], 5, [1, 4, 4]), { name: "mlp.onnx" });
  cnn = await openModel(randomCnn(2, 5), { name: "cnn.onnx" });
  flat = dataset(150, [1, 4, 4], 3, 8);
  images = dataset(80, [1, 8, 8], 5, 9);
});

afterAll(async () => {
  await closeModel(mlp);
  await closeModel(cnn);
});

async function expectDisagreement(run: Promise<unknown>, text: RegExp): Promise<void> {
  const error = await run.then(() => null, (e: unknown) => e);
  expect(isLesionError(error)).toBe(true);
  expect((error as { code: string }).code).toBe("engine-disagreement");
  expect((error as Error).message).toMatch(text);
}

describe("agreement check", () => {
  it("ablate(m, d) on the dense engine (MLP) and the masked graph (CNN) passes the check on every sample", async () => {
    const dense = await ablate(mlp, flat, { conditions: singles(resolveSite(mlp, "fc1")) });
    expect(dense.agreement).toEqual({ samples: 150, nearTies: 0 });
    const masked = await ablate(cnn, images, { conditions: singles(resolveSite(cnn, "conv2")) });
    expect(masked.agreement.samples).toBe(80);
    expect(masked.agreement.nearTies).toBe(0);
    // Independently: the intact accuracy equals a plain evaluation's.
    expect(masked.baseline.accuracy).toBe((await evaluate(cnn, images)).accuracy);
  });

  it("checkAgreement(m, d, predictions) with one prediction changed fails with engine-disagreement naming the sample", async () => {
    const dense = await ablate(mlp, flat, { conditions: singles(resolveSite(mlp, "fc2")) });
    const wrong = Int32Array.from(dense.predictions);
    wrong[17] = (wrong[17] + 1) % 3;
    // Class +1 may be a near tie only by chance; the random network's logits are far apart here.
    await expectDisagreement(checkAgreement(mlp, flat, wrong), /disagree with a plain forward pass of the unmodified graph on 1 of 150 samples \(first: sample 17, engine class \d, plain class \d\)/);
  });

  it("ablate resuming from a resume log whose intact predictions were tampered with fails with engine-disagreement and keeps the resume log", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-agreement-"));
    const resumeLog = join(dir, "resume-log.jsonl");
    const good = await ablate(mlp, flat, { conditions: singles(resolveSite(mlp, "fc1")), loss: false });
    const sha = createHash("sha256").update(new Uint8Array(flat.images.buffer)).update(new Uint8Array(flat.labels.buffer)).digest("hex");
    // The resume log's header as ablate writes it, and an intact network that calls every sample class 0.
    const header = JSON.stringify({ header: { model: mlp.sha256, data: flat.spec, n: flat.n, dataSha256: sha, loss: false } });
    const correct = [0, 1, 2].map((c) => flat.labels.filter((l, s) => l === c && good.predictions[s] === c).length);
    const intact = JSON.stringify({ id: "intact", predictions: new Array(flat.n).fill(0), correctPerClass: correct, lossSum: 0 });
    writeFileSync(resumeLog, `${header}\n${intact}\n`);
    await expectDisagreement(ablate(mlp, flat, { conditions: singles(resolveSite(mlp, "fc1")), loss: false, resumeLog }), /on \d+ of 150 samples/);
    expect(existsSync(resumeLog)).toBe(true);
  });
});
