/**
 * Cumulative ablation curves from a fractions step's summary (conditions labelled "<fraction> <order>[ #<repeat>]"):
 * per site, order and repeat, the accuracy at each ablated fraction, overall and per class, fraction 0 the intact
 * network; and Study B of Meyes et al. 2019 (their VGG study), every site's random-order curve averaged over repeats,
 * in depth order.
 */
import type { AblateFilesRead } from "../runs/ablateFiles.js";
import { round } from "./round.js";

/** Per order and repeat, (fraction, accuracy) points. */
export type CurveSeries = Array<{ order: string; repeat: number; points: Array<[number, number]> }>;

/** Per order and repeat, per class (fraction, accuracy) points (null for a class without samples). */
export type ClassCurveSeries = Array<{ order: string; repeat: number; perClass: Array<Array<[number, number | null]>> }>;

/**
 * One site of Study B: its depth (graph order, 1 = nearest the input) and its random-order curve, the mean over the
 * fractions step's repeats: (fraction of the site's units ablated, accuracy) overall and per class.
 */
export interface DepthCurve {
  site: string;
  kind: "dense" | "conv";
  depth: number;
  units: number;
  repeats: number;
  points: Array<[number, number]>;
  perClass: Array<Array<[number, number | null]>>;
}

/** The curves of `site` in `curves` (none without a fractions step). */
export function curveSeries(curves: AblateFilesRead | null, site: string): CurveSeries {
  if (!curves) return [];
  const series = new Map<string, { order: string; repeat: number; points: Array<[number, number]> }>();
  for (const c of curves.summary.conditions) {
    if (c.site !== site || !c.label) continue;
    // Labels read "<fraction> <order>[ #<repeat>]".
    const [fraction, order, repeat] = c.label.split(" ");
    const key = `${order} ${repeat ?? ""}`;
    if (!series.has(key)) series.set(key, { order, repeat: repeat ? Number(repeat.slice(1)) : 1, points: [[0, curves.summary.baseline.accuracy]] });
    series.get(key)!.points.push([Number(fraction), round(c.accuracy)!]);
  }
  return [...series.values()];
}

/** The per-class curves of `site` in `curves`, for k classes (none without a fractions step). */
export function classCurveSeries(curves: AblateFilesRead | null, site: string, k: number): ClassCurveSeries {
  if (!curves) return [];
  const series = new Map<string, ClassCurveSeries[number]>();
  curves.summary.conditions.forEach((c, i) => {
    if (c.site !== site || !c.label) return;
    const [fraction, order, repeat] = c.label.split(" ");
    const key = `${order} ${repeat ?? ""}`;
    if (!series.has(key)) series.set(key, { order, repeat: repeat ? Number(repeat.slice(1)) : 1, perClass: Array.from({ length: k }, (_, j) => [[0, curves.summary.baseline.perClass[j]]]) });
    const perClass = curves.perClass(i);
    series.get(key)!.perClass.forEach((points, j) => points.push([Number(fraction), round(perClass[j])]));
  });
  return [...series.values()];
}

/**
 * Study B's rows: the random-order curves of every site, averaged over repeats, sites sorted by their position in the
 * graph (the order `locateSites` finds them in; the study's own order where the model file is gone).
 */
export function depthCurves(curves: AblateFilesRead | null, studied: string[], graphOrder: string[], sites: Array<{ name: string; kind: "dense" | "conv"; units: number }>, k: number): DepthCurve[] {
  if (!curves) return [];
  const position = (name: string) => (graphOrder.includes(name) ? graphOrder.indexOf(name) : graphOrder.length + studied.indexOf(name));
  const ordered = [...studied].sort((a, b) => position(a) - position(b));
  return ordered.flatMap((name, i) => {
    const site = sites.find((s) => s.name === name)!;
    const random = curveSeries(curves, name).filter((c) => c.order === "random");
    const randomClasses = classCurveSeries(curves, name, k).filter((c) => c.order === "random");
    if (random.length === 0) return [];
    const mean = (values: Array<number | null>) => {
      const known = values.filter((v): v is number => v !== null);
      return known.length === 0 ? null : round(known.reduce((a, b) => a + b, 0) / known.length);
    };
    const points = random[0].points.map(([fraction], j): [number, number] => [fraction, mean(random.map((c) => c.points[j][1]))!]);
    const perClass = Array.from({ length: k }, (_, c) => random[0].points.map(([fraction], j): [number, number | null] => [fraction, mean(randomClasses.map((r) => r.perClass[c][j][1]))]));
    return [{ site: name, kind: site.kind, depth: i + 1, units: site.units, repeats: random.length, points, perClass }];
  });
}
