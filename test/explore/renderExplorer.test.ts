/** The explorer page's script, kept in parts under assets/explorer/page/ and joined by renderExplorer. */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Script } from "node:vm";
import { describe, expect, it } from "vitest";
import { PAGE_SCRIPTS, pageScript } from "../../src/explore/renderExplorer.js";

const PAGE = fileURLToPath(new URL("../../assets/explorer/page/", import.meta.url));

describe("renderExplorer's page script", () => {
  it("PAGE_SCRIPTS names every .js file of assets/explorer/page/ once, main.js (which starts the page) last", () => {
    const files = readdirSync(PAGE).filter((name) => name.endsWith(".js"));
    expect([...PAGE_SCRIPTS].sort()).toEqual(files.sort());
    expect(new Set(PAGE_SCRIPTS).size).toBe(PAGE_SCRIPTS.length);
    expect(PAGE_SCRIPTS.at(-1)).toBe("main.js");
  });

  it("pageScript(): the parts with the engine's decide and fillInput compile as one strict script (no name declared twice), each part under 400 lines", () => {
    const parts = PAGE_SCRIPTS.map((name) => readFileSync(join(PAGE, name), "utf8"));
    for (const [i, text] of parts.entries()) expect(text.split("\n").length, PAGE_SCRIPTS[i]).toBeLessThan(400);
    const script = pageScript();
    expect(script).toMatch(/^function decide\(/m);
    expect(script).toMatch(/^const engineFillInput = function fillInput\(/m);
    expect(() => new Script(`"use strict";\n${script}`)).not.toThrow();
    // The check can fail: the script with a part twice does not compile.
    expect(() => new Script(`"use strict";\n${script}\n${parts[0]}`)).toThrow(SyntaxError);
  });
});
