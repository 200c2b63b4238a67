import { describe, expect, it } from "vitest";
import { parseGroups, parseUnitList, parseUnits } from "../../src/cli/parseUnits.js";
import { LesionError } from "../../src/errors.js";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof LesionError ? error.code : "not a LesionError";
  }
  return undefined;
}

describe("parseUnits", () => {
  it("parseUnits('all'), ('pairs'), ('pairs:0-2') name the sweep", () => {
    expect(parseUnits("all")).toEqual({ kind: "all" });
    expect(parseUnits("pairs")).toEqual({ kind: "pairs", units: null });
    expect(parseUnits("pairs:0-2,5")).toEqual({ kind: "pairs", units: [0, 1, 2, 5] });
  });

  it("parseUnits('0,3,7') and ranges list units, duplicates removed", () => {
    expect(parseUnits("0,3,7")).toEqual({ kind: "list", units: [0, 3, 7] });
    expect(parseUnits("2-5, 3")).toEqual({ kind: "list", units: [2, 3, 4, 5] });
  });

  it("parseUnits('@groups.json') names the groups file", () => {
    expect(parseUnits("@pop.json")).toEqual({ kind: "groups", path: "pop.json" });
  });

  it("parseUnits rejects text it does not understand with bad-units", () => {
    for (const bad of ["", "x", "1,,2", "-1", "5-2", "1.5", "@"]) expect(codeOf(() => parseUnits(bad)), bad).toBe("bad-units");
    expect(() => parseUnits("3,foo")).toThrow("--units '3,foo' is not understood at 'foo'; expected all, pairs, pairs:LIST, a list such as 0,3,7 or 2-5, or @groups.json");
    // recover's --units takes a list only: its message offers no `all` it would refuse.
    expect(() => parseUnitList("all")).toThrow("--units 'all' is not understood at 'all'; expected a list such as 0,3,7 or 2-5");
  });
});

describe("parseGroups", () => {
  it("parseGroups reads named unit lists", () => {
    expect(parseGroups('{"a": [1, 2], "b": [0]}', "g.json")).toEqual({ a: [1, 2], b: [0] });
  });

  it("parseGroups rejects non-JSON, non-objects, empty and non-integer groups with bad-groups", () => {
    for (const bad of ["{", "[1,2]", "{}", '{"a": []}', '{"a": [1.5]}', '{"a": [-1]}', '{"a": "1"}']) {
      expect(codeOf(() => parseGroups(bad, "g.json")), bad).toBe("bad-groups");
    }
  });

  it("parseGroups refuses a group name given twice (JSON.parse kept the last, the first group vanished); names inside groups' values, escapes and nested keys are no repeat", () => {
    expect(() => parseGroups('{"a": [1, 2],\n  "b": [0],\n  "a"\n : [3]}', "g.json")).toThrow("group 'a' is given twice in g.json");
    expect(() => parseGroups('{"x\\"y": [1], "x\\u0022y": [2]}', "g.json")).toThrow(`group 'x"y' is given twice in g.json`);
    expect(parseGroups('{"a": [1], "a ": [2], "b\\\\": [3]}', "g.json")).toEqual({ a: [1], "a ": [2], "b\\": [3] });
  });
});
