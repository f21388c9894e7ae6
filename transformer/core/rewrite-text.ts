/**
 * The rewrite of rewrite.ts, as insertions into the user's own text, for hosts that hand
 * the file on to another compiler (the esbuild plugin). Nothing of the user's text is
 * reprinted: the tagged function's body gets a prefix and a suffix, a wrapped function a
 * call around it, a marker call its name, and the file the helper import, each on the line
 * it belongs to. So the other compiler sees the code as written (its formatting, its
 * comments, JSX, decorators), lines stay where they were, and the source map is a list
 * of insertion points, which is why this is a fraction of the cost of printing the tree.
 *
 * It produces, statement for statement, the code rewrite.ts produces; the fixture tests
 * compile both and compare them.
 *
 *   /** @step *\/ async function f(a) { body }
 *     => async function f(a) { return __stepwise.run("step", { name: "f" }, this, arguments, async () => { body }); }
 *   /** @step *\/ const f = async (a) => body
 *     => const f = __stepwise.step(async (a) => body, { name: "f" })
 *   step(fn, cfg)
 *     => step(fn, { name: "f", ...cfg })
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import MagicString from "magic-string";
import type { ConfigEntry, Literal } from "./config.js";
import { PACKAGE, type FileAnalysis, type Operation } from "./markers.js";
import { HELPER } from "./rewrite.js";

export interface TextRewrite {
  code: string;
  /** Source map (v3) from `code` to the original text; `sources` is [fileName]. */
  map: { version: number; sources: string[]; sourcesContent?: (string | null)[]; mappings: string; names: string[] };
}

/**
 * One insertion. At one position, closings go before openings (one construct ends where
 * another starts), inner closings before outer ones, outer openings before inner ones.
 */
interface Insertion {
  pos: number;
  text: string;
  side: "close" | "open";
  /** Length of the construct the text opens or closes: orders insertions at one position. */
  span: number;
}

export function rewriteText(tsi: TS, analysis: FileAnalysis, opts: { commonjs: boolean }): TextRewrite | undefined {
  const { sf, operations } = analysis;
  if (operations.length === 0) return undefined;
  const text = sf.text;
  const edits: Insertion[] = [];
  const open = (pos: number, span: number, s: string) => edits.push({ pos, text: s, side: "open", span });
  const close = (pos: number, span: number, s: string) => edits.push({ pos, text: s, side: "close", span });
  let needsHelper = false;

  for (const op of operations) {
    const t = op.target;
    if (t.form === "body") {
      // The user's block becomes the arrow's body; the outer block and the call go around it.
      const body = t.fn.body!;
      const start = body.getStart(sf);
      const span = body.end - start;
      open(start, span, `{ return ${HELPER}.run(${JSON.stringify(op.kind)}, ${configText(op.id!, op.entries)}, this, arguments, async () => `);
      close(body.end, span, `); }`);
      needsHelper = true;
    } else if (t.form === "wrap") {
      const start = t.fn.getStart(sf);
      const span = t.fn.end - start;
      open(start, span, `${HELPER}.${op.kind}(`);
      close(t.fn.end, span, `, ${configText(op.id!, op.entries)})`);
      needsHelper = true;
    } else if (op.id !== undefined && t.call.arguments.length > 0) {
      const [fn, cfg] = t.call.arguments;
      const name = `name: ${JSON.stringify(op.id)}`;
      if (!cfg) close(fn!.end, fn!.end - fn!.getStart(sf), `, { ${name} }`);
      else if (tsi.isObjectLiteralExpression(cfg)) open(cfg.getStart(sf) + 1, 0, ` ${name},`);
      else {
        const start = cfg.getStart(sf);
        open(start, cfg.end - start, `{ ${name}, ...(`);
        close(cfg.end, cfg.end - start, `) }`);
      }
    }
    if (op.register) {
      const st = op.register.after;
      // The leading ";" ends a statement written without one (ASI would not end it before our call).
      close(st.end, st.end - st.getStart(sf), `;${registerText(op)};`);
    }
  }

  if (needsHelper) {
    const helper = opts.commonjs
      ? `const { ${HELPER} } = require(${JSON.stringify(PACKAGE)});`
      : `import { ${HELPER} } from ${JSON.stringify(PACKAGE)};`;
    // After "use strict" and other directives, which must stay first; after a #! line.
    let prologueEnd = -1;
    for (const st of sf.statements) {
      if (!isDirective(tsi, st)) break;
      prologueEnd = st.end;
    }
    if (prologueEnd >= 0) open(prologueEnd, text.length + 1, `;${helper}`);
    else if (text.startsWith("#!")) {
      const eol = text.indexOf("\n");
      open(eol < 0 ? text.length : eol, text.length + 1, `\n${helper}`);
    } else open(0, text.length + 1, helper);
  }

  edits.sort((a, b) =>
    a.pos !== b.pos ? a.pos - b.pos
    : a.side !== b.side ? (a.side === "close" ? -1 : 1)
    : a.side === "close" ? a.span - b.span
    : b.span - a.span,
  );
  const s = new MagicString(text);
  // appendLeft at one position keeps call order, which the sort made the right one.
  for (const e of edits) s.appendLeft(e.pos, e.text);
  const map = s.generateMap({ source: sf.fileName, includeContent: true, hires: "boundary" });
  return { code: s.toString(), map: { version: 3, sources: [sf.fileName], sourcesContent: map.sourcesContent, mappings: map.mappings, names: map.names } };
}

function literalText(v: Literal): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

function configText(id: string, entries: readonly ConfigEntry[]): string {
  return `{ ${[`name: ${JSON.stringify(id)}`, ...entries.map((e) => `${e.key}: ${literalText(e.value)}`)].join(", ")} }`;
}

/** `a.b.c` from ["a", "b", "c"], with element access for names that are not identifiers. */
function pathText(path: readonly string[]): string {
  return path.map((seg, i) => (i === 0 ? seg : /^[A-Za-z_$][\w$]*$/.test(seg) ? `.${seg}` : `[${JSON.stringify(seg)}]`)).join("");
}

function registerText(op: Operation): string {
  const path = op.register!.path;
  const args = [JSON.stringify(op.kind), JSON.stringify(op.id!), pathText(path)];
  if (path.length > 1) args.push(pathText(path.slice(0, -1)));
  // The workflow's own options (maxRecoveryAttempts) travel with its registration.
  if (op.entries.length > 0) {
    if (path.length === 1) args.push("void 0");
    args.push(`{ ${op.entries.map((e) => `${e.key}: ${literalText(e.value)}`).join(", ")} }`);
  }
  return `${HELPER}.register(${args.join(", ")})`;
}

function isDirective(tsi: TS, st: ts.Statement): boolean {
  return tsi.isExpressionStatement(st) && tsi.isStringLiteral(st.expression);
}
