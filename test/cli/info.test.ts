/** `lesion info` names the head it found at the end of the graph (issue #13, case softmax-output-loss). */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));
const CASE = (name: string) => fileURLToPath(new URL(`../fixtures/cases/${name}`, import.meta.url));

function lesion(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
}

describe("lesion info", () => {
  it("lesion info softmax_mlp.onnx says the output is softmax probabilities; --json has head 'softmax', and 'log-softmax' / 'logits' for the others", () => {
    const text = lesion("info", CASE("softmax-output-loss/softmax_mlp.onnx"));
    expect(text.status).toBe(0);
    expect(text.stdout.split("\n")).toContain("output softmax probabilities (loss from the logits before the Softmax)");
    const heads = ["softmax-output-loss/softmax_mlp.onnx", "second-output-before-site/two_outputs.onnx", "softmax-output-loss/logits_mlp.onnx"].map(
      (path) => JSON.parse(lesion("info", CASE(path), "--json").stdout).head,
    );
    expect(heads).toEqual(["softmax", "log-softmax", "logits"]);
  });
});
