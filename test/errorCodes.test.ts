/**
 * Every code of LesionError's closed set is asserted by a test: the code's string stands in a test file on a line that
 * asserts it (an `expect`, or a `code:` field matched against an error). A code added without a test fails here.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LESION_ERROR_CODES, type LesionErrorCode } from "../src/errors.js";

const TEST_DIR = fileURLToPath(new URL(".", import.meta.url));
const ERRORS_TS = fileURLToPath(new URL("../src/errors.ts", import.meta.url));

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "fixtures" ? [] : testFiles(path);
    return entry.name.endsWith(".test.ts") && !path.endsWith("errorCodes.test.ts") ? [path] : [];
  });
}

// Compile-time: the list names every code of the union (and, by its `satisfies`, no other).
type Unlisted = Exclude<LesionErrorCode, (typeof LESION_ERROR_CODES)[number]>;
const listsAll: [Unlisted] extends [never] ? true : false = true;

describe("LesionError codes", () => {
  it("LESION_ERROR_CODES lists the keys of LesionErrorDetails in src/errors.ts, each once", () => {
    expect(listsAll).toBe(true);
    const source = readFileSync(ERRORS_TS, "utf8");
    const body = source.slice(source.indexOf("export interface LesionErrorDetails {"), source.indexOf("\n}\n", source.indexOf("export interface LesionErrorDetails {")));
    const keys = [...body.matchAll(/^ {2}"?([a-z-]+)"?: /gm)].map((m) => m[1]);
    expect(keys).toEqual([...LESION_ERROR_CODES]);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("every code is asserted by a test (its string on a line with expect or code:)", () => {
    const lines = testFiles(TEST_DIR).flatMap((file) => readFileSync(file, "utf8").split("\n"));
    const asserted = (code: string) => lines.some((line) => line.includes(`"${code}"`) && /expect|code:|\.code\b|errorCode/.test(line));
    expect(LESION_ERROR_CODES.filter((code) => !asserted(code))).toEqual([]);
  });
});
