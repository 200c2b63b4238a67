/**
 * makeBatchDynamic on fixed-batch Reshape targets with allowzero=1 (PyTorch 2.x exports): hand-built graphs whose
 * value is known by hand (a Reshape then Relu is relu of the flattened input), run in batches of 3.
 */
import { describe, expect, it } from "vitest";
import { closeModel, getSession, openModel } from "../../src/engine/model.js";
import { OrtTensor } from "../../src/engine/ort.js";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";

/** x[1,3,4] → Reshape(x, target, allowzero) → Relu → [1,12]. */
function flattenModel(target: bigint[], allowzero: number): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: "g",
    node: [makeNode("Reshape", ["x", "target"], ["flat"], "/Reshape", { allowzero }), makeNode("Relu", ["flat"], ["logits"], "/relu/Relu")],
    initializer: [makeTensor("target", [target.length], BigInt64Array.from(target))],
    input: [makeValueInfo("x", DataType.FLOAT, [1, 3, 4])],
    output: [makeValueInfo("logits", DataType.FLOAT, [1, 12])],
  });
  return encodeModel(onnx.ModelProto.create({ irVersion: 9, opsetImport: [{ domain: "", version: 18 }], graph }));
}

describe("makeBatchDynamic with allowzero=1", () => {
  const cases: Array<[string, bigint[], number]> = [
    ["[1, 12], allowzero=1 (batch entry becomes -1)", [1n, 12n], 1],
    ["[1, -1], allowzero=1 (allowzero dropped, batch entry 0)", [1n, -1n], 1],
    ["[1, -1], allowzero=0", [1n, -1n], 0],
  ];
  for (const [label, target, allowzero] of cases) {
    it(`openModel(Reshape ${label}) runs a batch of 3 as relu of each flattened sample`, async () => {
      const model = await openModel(flattenModel(target, allowzero), { name: "flatten.onnx" });
      try {
        const session = await getSession(model, "plain", () => model.proto);
        const x = Float32Array.from({ length: 36 }, (_, i) => (i % 5) - 2);
        const out = await session.run({ x: new OrtTensor("float32", x, [3, 3, 4]) });
        expect(out.logits.dims).toEqual([3, 12]);
        expect(Array.from(out.logits.data as Float32Array)).toEqual(Array.from(x, (v) => Math.max(0, v)));
      } finally {
        await closeModel(model);
      }
    });
  }
});
