/**
 * Python's string order, which torchvision's ImageFolder sorts class folders and files by: code point by code point.
 * JavaScript's default sort compares UTF-16 code units, which puts a character above U+FFFF (😀, 𠮷: two units, the
 * first in U+D800–DBFF) before one in U+E000–U+FFFF (fullwidth ｆ); a trial's folder of 12 classes was numbered
 * differently from ImageFolder that way.
 */
export function byCodePoint(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}
