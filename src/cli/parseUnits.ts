/**
 * The `--units` flag: `all` (every unit alone), `pairs` (every pair), `0,3,7` or `2-5` (those units ablated together,
 * one condition), `@groups.json` (named groups: {"name": [units…]}). Parsing is pure; the groups file is read by the
 * command.
 */
import { fail } from "../errors.js";

export type UnitsSpec =
  | { kind: "all" }
  | { kind: "pairs"; units: number[] | null }
  | { kind: "list"; units: number[] }
  | { kind: "groups"; path: string };

/** What ablate's --units takes (recover's and transplant's take a list only). */
const UNITS_EXPECTED = "all, pairs, pairs:LIST, a list such as 0,3,7 or 2-5, or @groups.json";

export function parseUnits(text: string): UnitsSpec {
  const value = text.trim();
  if (value === "all") return { kind: "all" };
  if (value === "pairs") return { kind: "pairs", units: null };
  if (value.startsWith("pairs:")) return { kind: "pairs", units: parseUnitList(value.slice(6), text, UNITS_EXPECTED) };
  if (value.startsWith("@")) {
    if (value.length === 1) fail("bad-units", "--units @FILE needs a file name after @");
    return { kind: "groups", path: value.slice(1) };
  }
  return { kind: "list", units: parseUnitList(value, text, UNITS_EXPECTED) };
}

/** `0,3,7`, `2-5`, `0,4-6`: whole numbers ≥ 0 and ascending ranges; duplicates removed, order kept. */
export function parseUnitList(value: string, original = value, expected = "a list such as 0,3,7 or 2-5"): number[] {
  const units: number[] = [];
  for (const part of value.split(",")) {
    const item = part.trim();
    const range = /^(\d+)\s*-\s*(\d+)$/.exec(item);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from) fail("bad-units", `range '${item}' in --units '${original}' runs backwards`, { units: original });
      for (let u = from; u <= to; u++) units.push(u);
    } else if (/^\d+$/.test(item)) {
      units.push(Number(item));
    } else {
      fail("bad-units", `--units '${original}' is not understood at '${item}'; expected ${expected}`, { units: original });
    }
  }
  return [...new Set(units)];
}

/** The parsed contents of a groups file: an object of group name → non-empty list of unit indices. */
export function parseGroups(json: string, path: string): Record<string, number[]> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    fail("bad-groups", `${path} is not JSON; expected {"name": [unit, …], …}`, { path });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) fail("bad-groups", `${path} must hold an object {"name": [unit, …], …}`, { path });
  // JSON.parse keeps the last of two groups of one name: the first would vanish without a word.
  const repeated = repeatedKey(json);
  if (repeated !== null) fail("bad-groups", `group '${repeated}' is given twice in ${path}`, { path, group: repeated });
  const groups: Record<string, number[]> = {};
  for (const [name, units] of Object.entries(value as Record<string, unknown>)) {
    if (!Array.isArray(units) || units.length === 0 || units.some((u) => !Number.isInteger(u) || (u as number) < 0)) {
      fail("bad-groups", `group '${name}' in ${path} must be a non-empty list of unit indices`, { path, group: name });
    }
    // A unit named twice is a slip (the group would silently be smaller than written).
    const twice = (units as number[]).find((u, i) => (units as number[]).indexOf(u) !== i);
    if (twice !== undefined) fail("bad-groups", `group '${name}' in ${path} names unit ${twice} twice`, { path, group: name });
    groups[name] = units as number[];
  }
  if (Object.keys(groups).length === 0) fail("bad-groups", `${path} has no groups`, { path });
  return groups;
}

/** The first key the top-level object of a valid JSON text has twice, or null. */
function repeatedKey(json: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      // A string at depth 1 followed by a colon is a key of the top-level object.
      let next = end + 1;
      while (/\s/.test(json[next] ?? "")) next++;
      if (depth === 1 && json[next] === ":") {
        const key = JSON.parse(json.slice(i, end + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
      }
      i = end;
    }
  }
  return null;
}
