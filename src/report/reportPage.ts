/**
 * The page both reports (the study's and the transplant's) are: one self-contained HTML file whose figures are drawn
 * in the browser by Observable Plot (chosen for its grammar of marks with built-in tooltips, small size and no build
 * step; its UMD bundle and d3's are inlined, so the file needs no network and no server), its data embedded as JSON,
 * its client code (CLIENT_TOOLS and the report's sections) inlined last.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);

/** What a report page holds besides the shared parts. */
export interface ReportPageOptions {
  /** The page title, already HTML-escaped. */
  title: string;
  /** CSS rules of this report, after the shared ones (PAGE_STYLE). */
  style: string;
  /** The HTML of the body above the scripts, already escaped. */
  body: string;
  /** The data the client reads from `<script id="data">`, as JSON. */
  data: unknown;
  /** The client code, run after the libraries and the data. */
  client: string;
}

/** The CSS rules both reports share: text, headings, figures with captions, tables, figure downloads. */
const PAGE_STYLE = `  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1rem 2rem 4rem; color: #222; }
  h1 { font-size: 1.6rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
  figure { margin: 1rem 0 2rem; } figcaption { color: #555; font-size: .9rem; max-width: 860px; }
  table { border-collapse: collapse; font-size: .85rem; } td, th { padding: .15rem .6rem; border-bottom: 1px solid #eee; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .drawing { display: inline-block; max-width: 100%; } .drawing > .weights { width: 1050px; max-width: 100%; }
  .exports { margin: .2rem 0; } .exports button { font: 12px system-ui, sans-serif; margin-right: .3rem; padding: .1rem .5rem; }
  p.caption { color: #555; font-size: .9rem; max-width: 860px; }
`;

/** The whole page (HTML text) for `options`; throws nothing a user can cause. */
export function reportPage(options: ReportPageOptions): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title}</title>
<style>
${PAGE_STYLE}${options.style}</style>
</head>
<body>
${options.body}
<script>${inline(library("d3", "dist/d3.min.js"))}</script>
<script>${inline(library("@observablehq/plot", "dist/plot.umd.min.js"))}</script>
<script type="application/json" id="data">${inline(JSON.stringify(options.data))}</script>
<script>${inline(options.client)}</script>
</body>
</html>
`;
}

/** `text` with &, <, > and " escaped, for HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

/** A file of an installed package (found from its entry point: some packages do not export package.json). */
function library(pkg: string, file: string): string {
  let dir = dirname(require.resolve(pkg));
  while (!existsSync(join(dir, "package.json")) || JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name !== pkg) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the package folder of ${pkg}`);
    dir = parent;
  }
  return readFileSync(join(dir, file), "utf8");
}

/** `</script>` inside inlined code or data would end the element early. */
function inline(text: string): string {
  return text.replace(/<\/script/gi, "<\\/script");
}
