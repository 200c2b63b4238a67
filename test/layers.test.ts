/** The architecture as checked rules (no import circle, no file over 400 lines): onnx, data → engine → models → study → transplant → runs → report, explore → cli, and only src/engine/ort.ts touches onnxruntime. */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

function files(dir: string, ext = ".ts"): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, ext) : path.endsWith(ext) ? [path] : [];
  });
}

function imports(path: string): string[] {
  const text = readFileSync(path, "utf8");
  const from = [...text.matchAll(/^(?:import|export)[^;]*?from\s+"([^"]+)"/gms)].map((m) => m[1]);
  // CommonJS packages are loaded with createRequire(import.meta.url)("name") (no ESM export scan at start-up); a
  // required relative path is package.json, outside the layers.
  const required = [...text.matchAll(/(?:\brequire|createRequire\(import\.meta\.url\))\("([^"]+)"\)/g)].map((m) => m[1]).filter((name) => !name.startsWith("."));
  return [...from, ...required];
}

/** The layers each layer may import from (besides itself and the shared errors/files modules). */
const ALLOWED: Record<string, string[]> = {
  onnx: [],
  data: [],
  engine: ["onnx", "data"],
  models: ["onnx", "data", "engine"],
  study: ["onnx", "data", "engine", "models"],
  transplant: ["onnx", "data", "engine", "models", "study"],
  runs: ["onnx", "data", "engine", "models", "study", "transplant"],
  report: ["onnx", "data", "engine", "models", "study", "transplant", "runs"],
  explore: ["onnx", "data", "engine", "models", "study", "transplant", "runs"],
  cli: ["onnx", "data", "engine", "models", "study", "transplant", "runs", "report", "explore"],
};

describe("layers", () => {
  it("every src/ module imports only from its own layer or the layers below it", () => {
    const violations: string[] = [];
    for (const path of files(SRC)) {
      const layer = relative(SRC, path).split("/")[0];
      if (!(layer in ALLOWED)) continue;
      for (const target of imports(path).filter((t) => t.startsWith("."))) {
        const resolved = relative(SRC, join(path, "..", target)).split("/");
        const other = resolved.length > 1 ? resolved[0] : null;
        if (other && other !== layer && !ALLOWED[layer].includes(other)) violations.push(`${relative(SRC, path)} → ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("only src/engine/ort.ts imports onnxruntime-node", () => {
    const users = files(SRC).filter((path) => imports(path).includes("onnxruntime-node")).map((path) => relative(SRC, path));
    expect(users).toEqual(["engine/ort.ts"]);
  });

  it("no src/ module imports itself back through others (no import circle)", () => {
    const graph = new Map<string, string[]>();
    for (const path of files(SRC)) {
      const targets = imports(path).filter((t) => t.startsWith(".")).map((t) => join(path, "..", t).replace(/\.js$/, ".ts"));
      graph.set(path, targets);
    }
    const circles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (path: string) => {
      state.set(path, "open");
      stack.push(path);
      for (const next of graph.get(path) ?? []) {
        if (state.get(next) === "open") circles.push([...stack.slice(stack.indexOf(next)), next].map((p) => relative(SRC, p)).join(" → "));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(path, "done");
    };
    for (const path of graph.keys()) if (!state.has(path)) visit(path);
    expect(circles).toEqual([]);
  });

  it("no source file is over 400 lines", () => {
    const long = [...files(SRC), ...files(join(SRC, "..", "assets", "explorer"), ".js")]
      .map((path) => [relative(join(SRC, ".."), path), readFileSync(path, "utf8").split("\n").length - 1] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });
});
