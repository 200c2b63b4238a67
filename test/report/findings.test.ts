import { describe, expect, it } from "vitest";
import { findings } from "../../src/report/findings.js";

describe("the report's findings", () => {
  it("gives an indicator's Spearman ρ with the drop over the live units too, where the site has dead units (hand-derived)", () => {
    // Live units 0..2: magnitude ranks 1, 2, 3 against drop ranks 3, 1, 2: Σd² = 6, ρ = 1 − 6·6/(3·8) = −0.5; with
    // n = 3 (1 degree of freedom) t = ρ·√(1/(1 − ρ²)) = −1/√3 and p = 1 − (2/π)·atan(1/√3) = 2/3. Units 3 and 4 are
    // dead (0 and 0), which over all five units would pull ρ up.
    const ind = {
      units: 5,
      dead: [3, 4],
      classMeans: { data: [1, 2, 3, 0, 0, 1, 2, 3, 0, 0], shape: [2, 5] },
      selectivity: [0.1, 0.2, 0.3, null, null],
      impact: [0.3, 0.1, 0.2, 0, 0],
      magnitude: [1, 2, 3, 0, 0],
    };
    const entry = { a: "magnitude", b: "impact", pearson: { r: 0, p: 1 }, spearman: { r: 0.9, p: 0.04 }, n: 5 };
    const impact = [[0.3, 0.3], [0.1, 0.1], [0.2, 0.2], [0, 0], [0, 0]];
    const f = findings(ind as never, impact, ["a", "b"], null, [entry] as never);
    expect(f.predictors).toHaveLength(1);
    expect([f.predictors[0].spearman, f.predictors[0].live!.n]).toEqual([0.9, 3]);
    expect(f.predictors[0].live!.spearman).toBeCloseTo(-0.5, 6);
    expect(f.predictors[0].live!.p).toBeCloseTo(2 / 3, 3);
    // No dead units: no live-only figure.
    const alive = findings({ ...ind, dead: [] } as never, impact, ["a", "b"], null, [entry] as never);
    expect(alive.predictors[0].live).toBeUndefined();
  });
});
