/**
 * The installed package's declarations as a TypeScript project of a user's checks them: strict, `"types": ["node"]`,
 * no skipLibCheck. A trial's fresh project failed on onnx-proto's global `Long`, which lesion's declarations reach.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

describe("dist/*.d.ts in a user's project", () => {
  // Inside the repository "lesion" and its dependencies resolve as in a package installed from the registry (its
  // dependencies hoisted beside it); outside, lesion linked in, as `npm install /path/to/lesion` installs it (its own
  // node_modules, where "long" is long 5, which declares no global `Long`: a trial's project failed there).
  it.each(["inside the repository", "outside it, lesion linked into node_modules"])("a strict project limited to Node's types, without skipLibCheck, type-checks a program using the API (%s)", (where) => {
    const inside = where === "inside the repository";
    if (inside) mkdirSync(join(ROOT, "test-output"), { recursive: true });
    const dir = mkdtempSync(inside ? join(ROOT, "test-output", "declarations-") : join(tmpdir(), "lesion-declarations-"));
    if (!inside) {
      mkdirSync(join(dir, "node_modules", "@types"), { recursive: true });
      symlinkSync(ROOT, join(dir, "node_modules", "lesion"), "dir");
      symlinkSync(join(ROOT, "node_modules", "@types", "node"), join(dir, "node_modules", "@types", "node"), "dir");
      writeFileSync(join(dir, "package.json"), '{"type": "module"}\n');
    }
    writeFileSync(join(dir, "main.ts"), [
      'import { openModel, evaluate, loadDataset, ablate, resolveSite, condition, LesionError } from "lesion";',
      'const model = await openModel("m.onnx");',
      'const data = await loadDataset("mnist:test");',
      "const intact: number = (await evaluate(model, data)).accuracy;",
      'const result = await ablate(model, data, { conditions: [condition(resolveSite(model, "fc1"), [3])] });',
      "const delta: number = result.conditions[0].delta;",
      "console.log(intact, delta, LesionError.name, model.proto.graph?.node?.length);",
      "",
    ].join("\n"));
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, types: ["node"], noEmit: true, skipLibCheck: false },
      files: ["main.ts"],
    }));
    const run = spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir], { cwd: dir, encoding: "utf8" });
    expect(run.stdout + run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});
