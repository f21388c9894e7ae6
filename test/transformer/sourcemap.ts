/** Just enough of a source-map reader for tests: the original line of a generated line. */
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function decodeVlq(s: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of s) {
    const d = B64.indexOf(ch);
    value += (d & 31) << shift;
    if (d & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >> 1) : value >> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}

export class SourceMapConsumerLite {
  /** generated line (1-based) -> original line (1-based) of its first segment */
  private readonly lines = new Map<number, number>();
  constructor(map: { mappings: string }) {
    let origLine = 0;
    map.mappings.split(";").forEach((line, i) => {
      let first: number | undefined;
      for (const seg of line.split(",").filter(Boolean)) {
        const v = decodeVlq(seg);
        if (v.length >= 4) {
          origLine += v[2]!;
          first ??= origLine;
        }
      }
      if (first !== undefined) this.lines.set(i + 1, first + 1);
    });
  }
  originalLine(generatedLine: number): number | undefined {
    return this.lines.get(generatedLine);
  }
}
