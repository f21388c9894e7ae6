/**
 * `stepwise verify`: whether a build rewrote every tagged function of its sources. A
 * tagged function that reaches the output unrewritten runs as plain code, with nothing
 * durable and no error, so a build whose toolchain skipped the transform must fail here.
 *
 * Host-independent, so a bundler plugin can call verifyBuild() at build end with what it
 * emitted. Sources are analysed by the core (syntactic mode); an operation counts as
 * rewritten when its ID appears in the output as the rewrite writes it, the first entry
 * of its config object (`{ name: "reserve"`, `{name:"reserve"` once minified): IDs are
 * string literals, which minifiers keep. With a source map, each output is checked only
 * for the sources it was built from, and a function the map never points into was left
 * out of the output (tree-shaken), which is not an error.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TS } from "./core/ts.js";
import { analyzeFile, type Operation } from "./core/index.js";
import { hasSyntaxErrors, parse } from "./esbuild/file.js";

export interface VerifySource {
  /** Absolute path. */
  fileName: string;
  text: string;
}

export interface VerifyOutput {
  /** Absolute path (where a relative sourceMappingURL is resolved from). */
  fileName: string;
  code: string;
  /** Its source map, when the caller has it in hand; otherwise read from the code's sourceMappingURL. */
  map?: RawMap;
}

export interface RawMap {
  sources: string[];
  sourceRoot?: string;
  mappings: string;
}

export interface VerifyProblem {
  id: string;
  kind: Operation["kind"];
  /** The source file and 1-based line of the tagged function. */
  fileName: string;
  line: number;
  /** The outputs it was looked for in. */
  outputs: string[];
  message: string;
}

export interface VerifyResult {
  problems: VerifyProblem[];
  /** Operations found rewritten. */
  rewritten: number;
  /** Operations whose code is not in the output at all (tree-shaken, or a file outside the build). */
  leftOut: number;
}

interface OutputInfo {
  out: VerifyOutput;
  /** Original lines the map points into, by absolute source path; undefined without a map. */
  lines?: Map<string, Set<number>>;
}

export function verifyBuild(tsi: TS, sources: readonly VerifySource[], outputs: readonly VerifyOutput[], display: (f: string) => string = (f) => f): VerifyResult {
  const infos: OutputInfo[] = outputs.map((out) => ({ out, lines: mappedLines(out) }));
  const unmapped = infos.filter((i) => !i.lines);
  const result: VerifyResult = { problems: [], rewritten: 0, leftOut: 0 };
  for (const src of sources) {
    const sf = parse(tsi, src.fileName, src.text);
    if (hasSyntaxErrors(sf)) continue;
    const analysis = analyzeFile(tsi, sf);
    const file = resolve(src.fileName);
    const covering = infos.filter((i) => i.lines?.has(file));
    for (const op of analysis.operations) {
      // A marker that names itself works without the transform.
      if (op.id === undefined) continue;
      const node = op.target.form === "marker" ? op.target.call : op.target.fn;
      const first = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const last = sf.getLineAndCharacterOfPosition(node.end).line;
      const pattern = idPattern(op.id);
      // Outputs built from this file (by their maps), plus those that cannot say (no map).
      const candidates = [...covering, ...unmapped];
      if (candidates.some((i) => pattern.test(i.out.code))) {
        result.rewritten++;
        continue;
      }
      const emitted = covering.some((i) => [...i.lines!.get(file)!].some((l) => l >= first && l <= last));
      if (!emitted && unmapped.length === 0) {
        result.leftOut++;
        continue;
      }
      const where = candidates.map((i) => display(i.out.fileName));
      result.problems.push({
        id: op.id,
        kind: op.kind,
        fileName: src.fileName,
        line: first + 1,
        outputs: where,
        message:
          `${op.kind} "${op.id}" (${display(src.fileName)}:${first + 1}) is not rewritten in ${where.length === 1 ? where[0] : `${where.length} output files`}: ` +
          `the build ran without the Stepwise transform, so it would run as plain code, not durably.` +
          (emitted ? "" : " (No source map says whether the output holds it: build with source maps to tell a function left out of the bundle from one not rewritten.)"),
      });
    }
  }
  return result;
}

/** `{ name: "<id>"` as the rewrite emits it (the ID first in its config), in any quoting a printer or minifier uses. */
function idPattern(id: string): RegExp {
  const esc = id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`\\{\\s*(?:name|"name"|'name')\\s*:\\s*(["'\`])${esc}\\1`);
}

/** The source map of an output: given, inline, or a file its sourceMappingURL names. */
function readMap(out: VerifyOutput): RawMap | undefined {
  if (out.map) return out.map;
  const m = /\/\/[#@]\s*sourceMappingURL=(\S+)\s*$/.exec(out.code.slice(-1_000_000));
  if (!m) return undefined;
  const url = m[1]!;
  try {
    if (url.startsWith("data:")) {
      const comma = url.indexOf(",");
      const data = url.slice(comma + 1);
      return JSON.parse(url.slice(0, comma).endsWith(";base64") ? Buffer.from(data, "base64").toString("utf8") : decodeURIComponent(data)) as RawMap;
    }
    const path = url.startsWith("file:") ? fileURLToPath(url) : resolve(dirname(out.fileName), decodeURIComponent(url));
    return JSON.parse(readFileSync(path, "utf8")) as RawMap;
  } catch {
    return undefined;
  }
}

function mappedLines(out: VerifyOutput): Map<string, Set<number>> | undefined {
  const map = readMap(out);
  if (!map || !Array.isArray(map.sources)) return undefined;
  const base = resolve(dirname(out.fileName), map.sourceRoot ?? "");
  const files = map.sources.map((s) => (s.startsWith("file:") ? fileURLToPath(s) : resolve(base, s)));
  const lines = new Map<string, Set<number>>();
  for (const f of files) lines.set(f, new Set());
  let source = 0;
  let line = 0;
  for (const group of map.mappings.split(";")) {
    for (const seg of group.split(",")) {
      if (!seg) continue;
      const v = decodeVlq(seg);
      if (v.length < 4) continue;
      source += v[1]!;
      line += v[2]!;
      lines.get(files[source]!)?.add(line);
    }
  }
  return lines;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** One source-map segment's fields (base64 VLQ, sign in the lowest bit). */
function decodeVlq(seg: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of seg) {
    const digit = B64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}
