/**
 * The misuse rules, one file each. The entry point every host calls:
 *
 *   checkRules(ts, sourceFile, { program? })  ->  SwDiagnostic[]
 *
 * With a program (tspc, `stepwise check`, the language service) calls are followed
 * through the type checker into other files, and SW1004 checks types. Without one
 * (esbuild, transpile-only) the rules still run on what one file shows: direct calls,
 * imports by name, helpers declared in the same file; SW1004 is skipped.
 */
import type * as ts from "typescript";
import type { TS } from "../ts.js";
import type { SwDiagnostic } from "../diagnostics.js";
import type { FileAnalysis } from "../markers.js";
import { RuleContext } from "./context.js";
import { checkWorkflowInStep } from "./sw1001-workflow-in-step.js";
import { checkMessagingInStep } from "./sw1002-messaging-in-step.js";
import { checkSerializable } from "./sw1004-serializable.js";
import { checkNondeterminism } from "./sw1101-nondeterminism.js";
import { checkUnawaitedStep } from "./sw1102-unawaited-step.js";

export { RuleContext } from "./context.js";

export interface RuleOptions {
  /** The program the file belongs to: cross-file calls, SW1004, classes registered anywhere. */
  program?: ts.Program;
  /** A checker without its program (cross-file calls and SW1004; registrations in this file only). */
  checker?: ts.TypeChecker;
  /** Analyses the host already made (from analyzeProgram), reused rather than redone. */
  analyses?: ReadonlyMap<ts.SourceFile, FileAnalysis>;
}

// One context per program: its call summaries and registered classes serve every file.
const contexts = new WeakMap<object, RuleContext>();

export function ruleContext(tsi: TS, opts: RuleOptions = {}): RuleContext {
  const key = opts.program ?? opts.checker;
  if (!key) return new RuleContext(tsi, undefined, { analyses: opts.analyses });
  let ctx = contexts.get(key);
  if (!ctx) {
    ctx = new RuleContext(tsi, opts.program, { analyses: opts.analyses, checker: opts.checker });
    contexts.set(key, ctx);
  } else if (opts.analyses) ctx.adoptAll(opts.analyses);
  return ctx;
}

/** The rule diagnostics of one source file, in source order. */
export function checkRules(tsi: TS, sf: ts.SourceFile, opts: RuleOptions = {}): SwDiagnostic[] {
  if (sf.isDeclarationFile) return [];
  const ctx = ruleContext(tsi, opts);
  const out: SwDiagnostic[] = [];
  ctx.noteFile(sf);
  for (const root of ctx.roots(sf)) {
    try {
      const sites = ctx.sites(root.fn);
      out.push(
        ...checkWorkflowInStep(root, sites),
        ...checkMessagingInStep(root, sites),
        ...checkNondeterminism(root, sites),
        ...checkUnawaitedStep(root, sites),
        ...checkSerializable(ctx, root),
      );
    } catch (e) {
      // A rule that trips over unusual code must not break the user's build or editor;
      // STEPWISE_DEBUG_RULES=1 surfaces it (for bug reports and the test suite).
      if (typeof process !== "undefined" && process.env?.STEPWISE_DEBUG_RULES) throw e;
    }
  }
  return out.sort((a, b) => a.start - b.start || a.code.localeCompare(b.code));
}
