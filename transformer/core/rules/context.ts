/**
 * What the rules share: which functions are steps, workflows and transactions, what a
 * call resolves to (a durable operation, a helper with a body, or an outside API such as
 * `Stepwise.send` or `Math.random`), and what each helper reaches through its own calls.
 *
 * With a type checker, calls are resolved through symbols: aliased imports, re-exports,
 * `const x = y` aliases, methods (static, instance, `this.m()`), overloads (to the
 * implementation), default exports and other files all count. Without one (esbuild's
 * default mode, transpile-only), names are resolved through the file's own scopes
 * (analysis/scope.ts): imports from packages, and declarations of the same file, are
 * followed; imports of the user's other modules are not.
 */
import type * as ts from "typescript";
import type { TS } from "../ts.js";
import type { OperationKind } from "../../../runtime/config.js";
import { analyzeFile, PACKAGE, type FileAnalysis } from "../markers.js";
import { nameText, qualifiedName } from "../ids.js";
import { lookupName, runnableDeclaration } from "../analysis/scope.js";
import type { SwCode } from "../diagnostics.js";

export type FunctionNode = ts.FunctionDeclaration | ts.MethodDeclaration | ts.ArrowFunction | ts.FunctionExpression;

/** What a call's callee turned out to be. */
export type Callee =
  /** An API outside the program: `stepwise:Stepwise.send`, `global:Math.random`, `fs:readFileSync`. */
  | { type: "external"; module: string; path: string[] }
  | { type: "operation"; kind: OperationKind; name: string }
  | { type: "helper"; fn: FunctionNode; name: string };

/** What a rule looks for in the code a step or workflow runs. */
export type EffectKind =
  | "workflow-call" // SW1001 in a step or transaction
  | "start-workflow" // SW1001 in a step or transaction
  | "step-call" // SW1001 in a transaction only
  | "transaction-call" // SW1001 in a step or transaction
  | "messaging" // SW1002 in a step or transaction
  | "nondeterministic" // SW1101 in a workflow
  | "unawaited"; // SW1102 in a workflow

export interface Effect {
  kind: EffectKind;
  rule: SwCode;
  /** What is called at the end of the chain: "Stepwise.send", "workflow refund". */
  op: string;
  /** Names from the helper called at the site to the operation: ["notify", "Stepwise.send"]. */
  chain: string[];
  /** Per-kind detail for the message (a fix, "enqueues"). */
  detail?: string;
}

/** A place in an operation's own body where an effect is reached, directly or through helpers. */
export interface Site {
  node: ts.Node;
  effect: Effect;
}

export interface Root {
  kind: OperationKind;
  name: string;
  fn: FunctionNode;
  sf: ts.SourceFile;
  /** Where the operation's name is, for messages about the operation as a whole. */
  at: { start: number; length: number };
}

const FS_MODULES = new Set(["fs", "node:fs", "fs/promises", "node:fs/promises"]);
const CRYPTO_MODULES = new Set(["crypto", "node:crypto"]);
const PERF_MODULES = new Set(["perf_hooks", "node:perf_hooks"]);
const TIMERS_MODULES = new Set(["timers", "node:timers"]);
const TIMER_PROMISES_MODULES = new Set(["timers/promises", "node:timers/promises"]);

function canonicalModule(spec: string): string {
  if (FS_MODULES.has(spec)) return "fs";
  if (CRYPTO_MODULES.has(spec)) return "crypto";
  if (PERF_MODULES.has(spec)) return "perf_hooks";
  if (TIMERS_MODULES.has(spec)) return "timers";
  if (TIMER_PROMISES_MODULES.has(spec)) return "timers/promises";
  return spec;
}

// patched/deprecatePatch too: each reads or writes the run's record at its own function ID.
const MESSAGING = new Set(["send", "recv", "setEvent", "getEvent", "sleep", "patched", "deprecatePatch"]);
/** Stepwise members that run as steps: fine in a step (they run inline), refused in a transaction. */
const STEP_LIKE = new Set(["now", "randomUUID", "runStep"]);

const NONDETERMINISTIC: Record<string, string> = {
  "global:Math.random": "random",
  "global:crypto.randomUUID": "random",
  "global:crypto.getRandomValues": "random",
  "crypto:randomUUID": "random",
  "crypto:randomBytes": "random",
  "crypto:randomInt": "random",
  "crypto:getRandomValues": "random",
  "crypto:webcrypto.getRandomValues": "random",
  "crypto:webcrypto.randomUUID": "random",
  "crypto:default.randomUUID": "random",
  "crypto:default.randomBytes": "random",
  "crypto:default.randomInt": "random",
  "crypto:default.getRandomValues": "random",
  "global:Date.now": "time",
  "global:Date": "time",
  "global:performance.now": "time",
  "perf_hooks:performance.now": "time",
  "global:fetch": "io",
  "global:setTimeout": "timer",
  "global:setInterval": "timer",
  "global:setImmediate": "timer",
  "timers:setTimeout": "timer",
  "timers:setInterval": "timer",
  "timers:setImmediate": "timer",
  "timers:promises.setTimeout": "timer",
  "timers:promises.setInterval": "timer",
  "timers:promises.setImmediate": "timer",
  "timers/promises:setTimeout": "timer",
  "timers/promises:setInterval": "timer",
  "timers/promises:setImmediate": "timer",
  "timers/promises:scheduler.wait": "timer",
};

export function externalKey(c: { module: string; path: string[] }): string {
  return `${c.module}:${c.path.join(".")}`;
}

/** How a chain shows an outside API. */
function externalDisplay(c: { module: string; path: string[] }): string {
  const path = c.path[0] === "default" ? c.path.slice(1) : c.path;
  if (c.module === "global" || c.module === PACKAGE) return path.join(".");
  return [c.module, ...path].join(".");
}

export interface RuleContextOptions {
  program?: ts.Program;
  checker?: ts.TypeChecker;
  /** Analyses the host already has, so files are not analysed twice. */
  analyses?: ReadonlyMap<ts.SourceFile, FileAnalysis>;
}

/**
 * Facts about one program (or one file, without a program). Built lazily: a file is
 * analysed for tags and markers only when a call leads into it.
 */
export class RuleContext {
  readonly checker: ts.TypeChecker | undefined;
  private readonly analyses = new Map<ts.SourceFile, FileAnalysis>();
  private readonly kindOf = new Map<ts.Node, { kind: OperationKind; name: string }>();
  private readonly summaries = new Map<FunctionNode, Effect[]>();
  private readonly inProgress = new Set<FunctionNode>();
  private registered: Set<ts.Symbol> | undefined;

  constructor(
    readonly tsi: TS,
    readonly program: ts.Program | undefined,
    opts: RuleContextOptions = {},
  ) {
    this.checker = opts.checker ?? program?.getTypeChecker();
    if (opts.analyses) this.adoptAll(opts.analyses);
  }

  adoptAll(analyses: ReadonlyMap<ts.SourceFile, FileAnalysis>): void {
    for (const a of analyses.values()) this.adopt(a);
  }

  /** Files checked without a program: where registerClass calls are looked for. */
  private readonly seenFiles = new Set<ts.SourceFile>();
  noteFile(sf: ts.SourceFile): void {
    if (!this.seenFiles.has(sf)) {
      this.seenFiles.add(sf);
      if (!this.program) this.registered = undefined;
    }
  }

  /** The tagged functions and marker calls of a file (analysed once). */
  analysisOf(sf: ts.SourceFile): FileAnalysis {
    let a = this.analyses.get(sf);
    if (!a) {
      a = analyzeFile(this.tsi, sf, { checker: this.checker });
      this.adopt(a);
    }
    return a;
  }

  private adopt(a: FileAnalysis): void {
    if (this.analyses.has(a.sf)) return;
    this.analyses.set(a.sf, a);
    // A marker with an explicit name has its ID in the file's ID list, not on the operation.
    const idAt = new Map(a.ids.map((e) => [e.start, e.id]));
    for (const op of a.operations) {
      const name = op.id ?? idAt.get(op.at.start) ?? a.sf.text.slice(op.at.start, op.at.start + op.at.length);
      if (op.target.form === "marker") {
        this.kindOf.set(op.target.call, { kind: op.kind, name });
        const fn = op.target.call.arguments[0] && skipInner(this.tsi, op.target.call.arguments[0]);
        if (fn && (this.tsi.isArrowFunction(fn) || this.tsi.isFunctionExpression(fn))) this.kindOf.set(fn, { kind: op.kind, name });
      } else this.kindOf.set(op.target.fn, { kind: op.kind, name });
    }
  }

  /** Every step, workflow and transaction defined in this file, with its function when it has one here. */
  roots(sf: ts.SourceFile): Root[] {
    const tsi = this.tsi;
    const out: Root[] = [];
    for (const op of this.analysisOf(sf).operations) {
      let fn: ts.Node | undefined = op.target.form === "marker" ? op.target.call.arguments[0] : op.target.fn;
      fn = fn && skipInner(tsi, fn as ts.Expression);
      // step(chargeImpl, { ... }): the function it wraps, declared elsewhere, is what runs as the step.
      if (fn && tsi.isIdentifier(fn)) fn = this.functionOf(fn);
      if (!fn || !isFunctionNode(tsi, fn) || !fn.body) continue;
      const own = this.kindOf.get(fn) ?? (op.target.form === "marker" ? this.kindOf.get(op.target.call) : undefined);
      out.push({ kind: op.kind, name: own?.name ?? op.id ?? "(anonymous)", fn, sf, at: op.at });
    }
    out.push(...this.runStepCallbacks(sf));
    return out;
  }

  private readonly runSteps = new Map<ts.SourceFile, Root[]>();
  /**
   * Stepwise.runStep(fn, { name }) runs fn as a step, inline or passed by reference
   * (`const stamp = async () => ...; runStep(stamp, ...)`). Found once per file, before
   * any of its functions is walked, so a walk skips those bodies wherever they are declared.
   */
  private runStepCallbacks(sf: ts.SourceFile): Root[] {
    let found = this.runSteps.get(sf);
    if (found) return found;
    found = [];
    this.runSteps.set(sf, found);
    if (!sf.text.includes("runStep")) return found;
    const tsi = this.tsi;
    const visit = (node: ts.Node): void => {
      if (tsi.isCallExpression(node) && node.arguments.length > 0 && isRunStepCallee(tsi, node.expression)) {
        const c = this.resolveCallee(node.expression);
        let fn: ts.Node | undefined = skipInner(tsi, node.arguments[0]!);
        if (tsi.isIdentifier(fn)) fn = this.functionOf(fn);
        if (c?.type === "external" && externalKey(c) === `${PACKAGE}:Stepwise.runStep` && fn && isFunctionNode(tsi, fn) && fn.body && !this.kindOf.has(fn)) {
          const name = runStepName(tsi, node) ?? "Stepwise.runStep";
          this.kindOf.set(fn, { kind: "step", name });
          // A function imported from another file is checked where it is declared only if a
          // runStep there names it; here it is just not walked as part of the caller.
          if (fn.getSourceFile() === sf) found.push({ kind: "step", name, fn, sf, at: { start: node.expression.getStart(sf), length: node.expression.getWidth(sf) } });
        }
      }
      tsi.forEachChild(node, visit);
    };
    visit(sf);
    return found;
  }

  /** The symbol a name refers to: the checker's, or without one the file's own scopes'. */
  symbolAt(id: ts.Identifier): ts.Symbol | undefined {
    return this.checker ? this.checker.getSymbolAtLocation(id) : lookupName(this.tsi, id).symbol;
  }

  /** The function with a body an identifier names (through aliases and consts), if it can be told. */
  private functionOf(id: ts.Identifier): FunctionNode | undefined {
    const tsi = this.tsi;
    let sym = this.symbolAt(id);
    if (!sym) return undefined;
    if (sym.flags & tsi.SymbolFlags.Alias) {
      if (!this.checker) return undefined;
      sym = this.checker.getAliasedSymbol(sym);
    }
    let decl: ts.Node | undefined = runnableDeclaration(tsi, sym);
    if (decl && tsi.isVariableDeclaration(decl) && decl.initializer) decl = skipInner(tsi, decl.initializer);
    return decl && isFunctionNode(tsi, decl) && decl.body && !decl.getSourceFile().isDeclarationFile ? decl : undefined;
  }

  /** The operation a function node is, if any. */
  operationOf(node: ts.Node): { kind: OperationKind; name: string } | undefined {
    this.analysisOf(node.getSourceFile());
    return this.kindOf.get(node);
  }

  // ---- resolving callees ---------------------------------------------------------------

  resolveCallee(expr: ts.Expression, depth = 0): Callee | undefined {
    const tsi = this.tsi;
    if (depth > 8) return undefined;
    expr = skipInner(tsi, expr);
    if (tsi.isIdentifier(expr)) return this.resolveIdentifier(expr, depth);
    if (tsi.isPropertyAccessExpression(expr) || (tsi.isElementAccessExpression(expr) && tsi.isStringLiteralLike(expr.argumentExpression))) {
      const member = tsi.isPropertyAccessExpression(expr) ? expr.name.text : (expr.argumentExpression as ts.StringLiteral).text;
      const base = tsi.isIdentifier(expr.expression) || tsi.isPropertyAccessExpression(expr.expression) || tsi.isParenthesizedExpression(expr.expression)
        ? this.resolveCallee(expr.expression, depth + 1)
        : undefined;
      if (base?.type === "external") {
        // globalThis.Math.random is Math.random.
        const path = base.module === "global" && base.path.length === 1 && base.path[0] === "globalThis" ? [] : base.path;
        return { type: "external", module: base.module, path: [...path, member] };
      }
      if (this.checker) {
        const sym = this.checker.getSymbolAtLocation(tsi.isPropertyAccessExpression(expr) ? expr.name : expr.argumentExpression);
        return sym ? this.resolveSymbol(sym, depth) : undefined;
      }
      // Without a checker: a member of a class or object declared in this file, `this.m()` in its own methods.
      const owner = this.ownerDeclaration(expr.expression);
      return owner ? this.localMember(owner, member, depth) : undefined;
    }
    return undefined;
  }

  private resolveIdentifier(id: ts.Identifier, depth: number): Callee | undefined {
    if (this.checker) {
      const sym = this.checker.getSymbolAtLocation(id);
      if (!sym) {
        // An undeclared global (no lib in the program): still the global API by name.
        return { type: "external", module: "global", path: [id.text] };
      }
      return this.resolveSymbol(sym, depth);
    }
    const found = lookupName(this.tsi, id);
    if (found.unknown) return undefined;
    return found.symbol ? this.resolveSymbol(found.symbol, depth) : { type: "external", module: "global", path: [id.text] };
  }

  private resolveSymbol(sym: ts.Symbol, depth: number): Callee | undefined {
    const tsi = this.tsi;
    const checker = this.checker;
    let s = sym;
    if (s.flags & tsi.SymbolFlags.Alias) {
      // The first import or re-export from a package names the API: `stepwise`, `node:fs`.
      for (let cur: ts.Symbol | undefined = s, i = 0; cur && cur.flags & tsi.SymbolFlags.Alias && i < 16; i++) {
        for (const d of cur.declarations ?? []) {
          const ext = externalOfImport(tsi, d);
          if (ext) return ext;
        }
        // Without a checker, another module of the user's is not followed.
        cur = checker?.getImmediateAliasedSymbol(cur);
      }
      if (!checker) return undefined;
      s = checker.getAliasedSymbol(s);
    }
    // An overloaded function or method: the implementation, whose body runs.
    const decl = runnableDeclaration(tsi, s);
    if (!decl) return s.name === "globalThis" ? { type: "external", module: "global", path: ["globalThis"] } : undefined;
    const sf = decl.getSourceFile();
    if (sf.isDeclarationFile) {
      // A global from a lib or @types file (`Math`, `fetch`, `setTimeout`); a property of one
      // is reached through the access (`Math.random`), so only top-level names count here.
      return isGlobalDeclaration(tsi, decl) ? { type: "external", module: "global", path: [s.name] } : undefined;
    }
    if (this.program?.isSourceFileFromExternalLibrary(sf)) return undefined;
    return this.classifyDeclaration(decl, depth);
  }

  private classifyDeclaration(decl: ts.Node, depth: number): Callee | undefined {
    const tsi = this.tsi;
    if (isFunctionNode(tsi, decl)) {
      const op = this.operationOf(decl);
      if (op) return { type: "operation", ...op };
      return decl.body ? { type: "helper", fn: decl, name: functionName(tsi, decl) } : undefined;
    }
    // `export default async () => {}`, `export default helper`: what the module's default export holds.
    const value = tsi.isExportAssignment(decl)
      ? decl.expression
      : (tsi.isVariableDeclaration(decl) || tsi.isPropertyAssignment(decl) || tsi.isPropertyDeclaration(decl)) ? decl.initializer : undefined;
    if (value) {
      const init = skipInner(tsi, value);
      const op = this.operationOf(init);
      if (op) return { type: "operation", ...op };
      if (isFunctionNode(tsi, init)) return this.classifyDeclaration(init, depth);
      // `const send = Stepwise.send`, `const charge = chargeCard`: an alias of a value.
      if (tsi.isIdentifier(init) || tsi.isPropertyAccessExpression(init)) return this.resolveCallee(init, depth + 1);
      return undefined;
    }
    if (tsi.isShorthandPropertyAssignment(decl) && this.checker) {
      const value = this.checker.getShorthandAssignmentValueSymbol(decl);
      return value ? this.resolveSymbol(value, depth + 1) : undefined;
    }
    // `const { send } = Stepwise`
    if (tsi.isBindingElement(decl) && tsi.isObjectBindingPattern(decl.parent) && tsi.isVariableDeclaration(decl.parent.parent) && decl.parent.parent.initializer) {
      const base = this.resolveCallee(decl.parent.parent.initializer, depth + 1);
      const key = nameText(tsi, decl.propertyName ?? decl.name);
      if (base?.type === "external" && key !== undefined) return { type: "external", module: base.module, path: [...base.path, key] };
    }
    return undefined;
  }

  /**
   * Without a checker: the class or object literal declared in this file that `owner` is
   * (`Orders` in `Orders.charge`), or that `this` is in one of its own methods.
   */
  private ownerDeclaration(owner: ts.Expression): ts.ClassLikeDeclaration | ts.ObjectLiteralExpression | undefined {
    const tsi = this.tsi;
    owner = skipInner(tsi, owner);
    if (owner.kind === tsi.SyntaxKind.ThisKeyword) {
      for (let cur: ts.Node | undefined = owner.parent; cur; cur = cur.parent) {
        // An arrow keeps the `this` around it; any other function has its own.
        if (tsi.isArrowFunction(cur)) continue;
        if (tsi.isMethodDeclaration(cur) || tsi.isPropertyDeclaration(cur) || tsi.isConstructorDeclaration(cur) || tsi.isGetAccessor(cur) || tsi.isSetAccessor(cur))
          return tsi.isClassLike(cur.parent) || tsi.isObjectLiteralExpression(cur.parent) ? cur.parent : undefined;
        if (tsi.isFunctionLike(cur) || tsi.isClassStaticBlockDeclaration(cur) || tsi.isSourceFile(cur)) return undefined;
      }
      return undefined;
    }
    if (!tsi.isIdentifier(owner)) return undefined;
    const sym = lookupName(tsi, owner).symbol;
    const decl = sym && !(sym.flags & tsi.SymbolFlags.Alias) ? runnableDeclaration(tsi, sym) : undefined;
    if (!decl) return undefined;
    if (tsi.isClassDeclaration(decl)) return decl;
    const init = tsi.isVariableDeclaration(decl) && decl.initializer ? skipInner(tsi, decl.initializer) : undefined;
    return init && (tsi.isObjectLiteralExpression(init) || tsi.isClassExpression(init)) ? init : undefined;
  }

  private localMember(owner: ts.ClassLikeDeclaration | ts.ObjectLiteralExpression, member: string, depth: number): Callee | undefined {
    const tsi = this.tsi;
    const all: readonly ts.Node[] = tsi.isObjectLiteralExpression(owner) ? owner.properties : owner.members;
    const named = all.filter(
      (x) => (tsi.isMethodDeclaration(x) || tsi.isPropertyDeclaration(x) || tsi.isPropertyAssignment(x)) && nameText(tsi, x.name) === member,
    );
    // Overloads: the implementation.
    const m = named.find((x) => tsi.isMethodDeclaration(x) && x.body) ?? named[0];
    return m ? this.classifyDeclaration(m, depth + 1) : undefined;
  }

  // ---- what a call is, for the rules -------------------------------------------------

  /** The effect of one call or `new` expression by itself (not through helpers). */
  directEffect(node: ts.CallExpression | ts.NewExpression, callee: Callee | undefined): Effect | undefined {
    if (!callee) return undefined;
    const tsi = this.tsi;
    if (callee.type === "operation") {
      if (callee.kind === "workflow") return { kind: "workflow-call", rule: "SW1001", op: `workflow ${callee.name}`, chain: [callee.name] };
      if (callee.kind === "step") return { kind: "step-call", rule: "SW1001", op: `step ${callee.name}`, chain: [callee.name] };
      // A transaction inside a step or another transaction is refused at run time too.
      return { kind: "transaction-call", rule: "SW1001", op: `transaction ${callee.name}`, chain: [callee.name] };
    }
    if (callee.type !== "external") return undefined;
    const key = externalKey(callee);
    const display = externalDisplay(callee);
    if (tsi.isNewExpression(node)) {
      if (key === "global:Date" && (node.arguments?.length ?? 0) === 0)
        return { kind: "nondeterministic", rule: "SW1101", op: "new Date()", chain: ["new Date()"], detail: "time" };
      return undefined;
    }
    if (callee.module === PACKAGE && callee.path[0] === "Stepwise" && callee.path.length === 2) {
      const member = callee.path[1]!;
      if (MESSAGING.has(member)) return { kind: "messaging", rule: "SW1002", op: display, chain: [display] };
      if (member === "startWorkflow") {
        const enqueue = hasQueueOption(tsi, node);
        return { kind: "start-workflow", rule: "SW1001", op: display, chain: [display], detail: enqueue ? "enqueue" : "start" };
      }
      if (member === "enqueue") return { kind: "start-workflow", rule: "SW1001", op: display, chain: [display], detail: "enqueue" };
      if (STEP_LIKE.has(member)) return { kind: "step-call", rule: "SW1001", op: display, chain: [display] };
      return undefined;
    }
    if (callee.module === "fs" && callee.path.length > 0)
      return { kind: "nondeterministic", rule: "SW1101", op: display, chain: [display], detail: "io" };
    const nd = NONDETERMINISTIC[key];
    if (nd) return { kind: "nondeterministic", rule: "SW1101", op: display, chain: [display], detail: nd };
    return undefined;
  }

  /**
   * Everything a helper reaches, through its own calls and the helpers they call, up to
   * the next step, workflow or transaction (those are checked on their own). Recursion
   * and cycles stop at a function already being walked; a result cut short that way is
   * not remembered, so another caller walks it again in full.
   */
  summary(fn: FunctionNode): { effects: Effect[]; complete: boolean } {
    const done = this.summaries.get(fn);
    if (done) return { effects: done, complete: true };
    if (this.inProgress.has(fn)) return { effects: [], complete: false };
    this.inProgress.add(fn);
    let complete = true;
    const effects: Effect[] = [];
    const seen = new Set<string>();
    try {
      for (const site of this.sites(fn, (f) => {
        const s = this.summary(f);
        if (!s.complete) complete = false;
        return s.effects;
      })) {
        const key = `${site.effect.kind}|${site.effect.op}`;
        if (seen.has(key)) continue;
        seen.add(key);
        effects.push(site.effect);
      }
    } finally {
      this.inProgress.delete(fn);
    }
    if (complete) this.summaries.set(fn, effects);
    return { effects, complete };
  }

  /**
   * The effects reached from a function's own body, each at the call that leads to it.
   * Nested callbacks count (they run as part of the function); nested steps, workflows
   * and transactions (inline markers, runStep callbacks) do not.
   */
  sites(fn: FunctionNode, helperEffects: (f: FunctionNode) => Effect[] = (f) => this.summary(f).effects): Site[] {
    const tsi = this.tsi;
    const out: Site[] = [];
    const visit = (node: ts.Node): void => {
      if (node !== fn && isFunctionNode(tsi, node) && this.kindOf.has(node)) return;
      if (tsi.isCallExpression(node) || tsi.isNewExpression(node)) {
        const callee = this.resolveCallee(node.expression);
        const direct = this.directEffect(node, callee);
        if (direct) out.push({ node, effect: direct });
        if (callee?.type === "helper" && callee.fn !== fn) {
          for (const e of helperEffects(callee.fn)) out.push({ node, effect: { ...e, chain: [callee.name, ...e.chain] } });
        }
        let durable: { op: string; chain: string } | undefined;
        if (callee?.type === "operation") durable = { op: `${callee.kind} ${callee.name}`, chain: callee.name };
        else if (callee?.type === "external" && callee.module === PACKAGE && isDurableStepwise(callee.path)) durable = { op: externalDisplay(callee), chain: externalDisplay(callee) };
        else if (tsi.isCallExpression(node) && this.isStartWorkflowCall(node.expression)) {
          // Stepwise.startWorkflow(wf)(...): the outer call's promise is the durable start.
          durable = { op: "Stepwise.startWorkflow", chain: "Stepwise.startWorkflow" };
        }
        if (durable && tsi.isCallExpression(node) && !this.isConsumed(node)) {
          // Awaited, but inside a callback whose own promise is dropped (forEach(async ...)).
          const inCallback = tsi.isAwaitExpression(skipOuter(tsi, node).parent);
          out.push({ node, effect: { kind: "unawaited", rule: "SW1102", op: durable.op, chain: [durable.chain], detail: inCallback ? "callback" : undefined } });
        }
      }
      tsi.forEachChild(node, visit);
    };
    const sf = fn.getSourceFile();
    this.analysisOf(sf);
    // runStep callbacks of this file are steps of their own: known before the walk reaches them.
    this.runStepCallbacks(sf);
    if (fn.body) visit(fn.body);
    for (const p of fn.parameters) if (p.initializer) visit(p.initializer);
    return out;
  }

  private isStartWorkflowCall(e: ts.Expression): boolean {
    const inner = skipInner(this.tsi, e);
    if (!this.tsi.isCallExpression(inner)) return false;
    const c = this.resolveCallee(inner.expression);
    return c?.type === "external" && externalKey(c) === `${PACKAGE}:Stepwise.startWorkflow`;
  }

  /**
   * Whether a promise-valued expression is consumed, so that the workflow waits for it or
   * hands it to code that can: awaited, returned, passed as an argument to a call
   * (Promise.all/allSettled/race/any are followed to their own result), chained with
   * then/catch/finally whose result is consumed, or kept in a variable (`const`, or a
   * `let` assigned later) or array that is read in a consuming way. A promise returned by
   * a callback follows what the callee does with it: `forEach` drops it, `filter`, `some`,
   * `every` and the `find`s read it as a truth value (dropped), `map`/`flatMap` pass it on
   * in their result, and any other callee counts as consuming it. An `await` inside an
   * async callback consumes only if the callback's own promise is consumed.
   * Unknown uses count as consumed, so the rule warns only about a promise that is certainly dropped.
   */
  isConsumed(expr: ts.Node, depth = 0): boolean {
    const tsi = this.tsi;
    if (depth > 8) return true;
    const cur = skipOuter(tsi, expr);
    const p = cur.parent;
    if (!p) return true;
    if (tsi.isExpressionStatement(p) || tsi.isVoidExpression(p)) return false;
    if (tsi.isAwaitExpression(p)) return this.resultConsumed(enclosingFunction(tsi, p), depth + 1);
    if (tsi.isReturnStatement(p)) return this.resultConsumed(enclosingFunction(tsi, p), depth + 1);
    if (tsi.isArrowFunction(p) && p.body === cur) return this.resultConsumed(p, depth + 1);
    if (tsi.isPropertyAccessExpression(p) && p.expression === cur) {
      // p.then(...), p.catch(...): the chained promise is the one to follow.
      if (["then", "catch", "finally"].includes(p.name.text) && tsi.isCallExpression(p.parent) && p.parent.expression === p)
        return this.isConsumed(p.parent, depth + 1);
      return true;
    }
    if (tsi.isArrayLiteralExpression(p)) return this.isConsumed(p, depth + 1);
    if (tsi.isCallExpression(p) && p.arguments.includes(cur as ts.Expression)) {
      const callee = skipInner(tsi, p.expression);
      if (tsi.isPropertyAccessExpression(callee) && tsi.isIdentifier(callee.expression) && callee.expression.text === "Promise" && PROMISE_COMBINATORS.has(callee.name.text))
        return this.isConsumed(p, depth + 1);
      return true;
    }
    if (tsi.isConditionalExpression(p) && p.condition !== cur) return this.isConsumed(p, depth + 1);
    if (tsi.isBinaryExpression(p) && p.operatorToken.kind === tsi.SyntaxKind.CommaToken) return p.right === cur ? this.isConsumed(p, depth + 1) : false;
    if (tsi.isBinaryExpression(p) && (p.operatorToken.kind === tsi.SyntaxKind.BarBarToken || p.operatorToken.kind === tsi.SyntaxKind.QuestionQuestionToken || p.operatorToken.kind === tsi.SyntaxKind.AmpersandAmpersandToken))
      return this.isConsumed(p, depth + 1);
    if (tsi.isVariableDeclaration(p) && p.initializer === cur && tsi.isIdentifier(p.name)) return this.variableConsumed(p.name, depth);
    // `bonus = loyaltyBonus(id)`: the assignment's own value, or a later read of the variable.
    if (tsi.isBinaryExpression(p) && p.operatorToken.kind === tsi.SyntaxKind.EqualsToken && p.right === cur && tsi.isIdentifier(skipInner(tsi, p.left))) {
      if (this.isConsumed(p, depth + 1)) return true;
      const sym = this.symbolAt(skipInner(tsi, p.left) as ts.Identifier);
      const decl = sym?.valueDeclaration ?? sym?.declarations?.[0];
      // Only a variable of this file that no other module can read is traced.
      if (!decl || !tsi.isVariableDeclaration(decl) || !tsi.isIdentifier(decl.name) || isExportedVariable(tsi, decl)) return true;
      return this.variableConsumed(decl.name, depth);
    }
    return true;
  }

  /** A variable holding a promise is consumed when one of its reads is (writes to it are not reads). */
  private variableConsumed(name: ts.Identifier, depth: number): boolean {
    return this.references(name).some((r) => !isAssignmentTarget(this.tsi, r) && this.isConsumed(r, depth + 1));
  }

  /** Whether what a function returns is consumed: a callback's result, as its callee treats it; anything else's, yes. */
  private resultConsumed(fn: ts.Node | undefined, depth: number): boolean {
    const tsi = this.tsi;
    if (!fn || !(tsi.isArrowFunction(fn) || tsi.isFunctionExpression(fn))) return true;
    const holder = skipOuter(tsi, fn);
    const call = holder.parent;
    if (!call || !tsi.isCallExpression(call) || !call.arguments.includes(holder as ts.Expression)) return true;
    const callee = skipInner(tsi, call.expression);
    const method = tsi.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
    if (method === undefined) return true;
    if (DROPS_CALLBACK_RESULT.has(method)) return false;
    if (method === "map" || method === "flatMap" || method === "then" || method === "catch" || method === "finally") return this.isConsumed(call, depth + 1);
    return true;
  }

  /** Uses of a local variable in the function (or file) that declares it. */
  private references(name: ts.Identifier): ts.Identifier[] {
    const tsi = this.tsi;
    let scope: ts.Node = name;
    while (scope.parent && !isFunctionNode(tsi, scope) && !tsi.isSourceFile(scope)) scope = scope.parent;
    const sym = this.symbolAt(name);
    const out: ts.Identifier[] = [];
    const visit = (n: ts.Node): void => {
      if (tsi.isIdentifier(n) && n !== name && n.text === name.text && (!sym || this.symbolAt(n) === sym)) out.push(n);
      tsi.forEachChild(n, visit);
    };
    visit(scope);
    return out;
  }

  // ---- registered classes (SW1004) ------------------------------------------------------

  /**
   * Classes whose instances the serializer round-trips: passed to Stepwise.registerClass
   * (or registerErrorClass) anywhere in the program, or tagged /** @serializable *\/.
   */
  registeredClasses(): Set<ts.Symbol> {
    if (this.registered) return this.registered;
    const tsi = this.tsi;
    const checker = this.checker;
    const set = new Set<ts.Symbol>();
    const files = this.program ? this.program.getSourceFiles().filter((f) => !f.isDeclarationFile) : [...this.seenFiles];
    for (const sf of files) {
      const hasCall = sf.text.includes("registerClass") || sf.text.includes("registerErrorClass");
      const hasTag = sf.text.includes("@serializable");
      if (!hasCall && !hasTag) continue;
      const visit = (node: ts.Node): void => {
        if (hasCall && tsi.isCallExpression(node) && node.arguments.length > 0) {
          const c = this.resolveCallee(node.expression);
          if (c?.type === "external" && c.module === PACKAGE && (c.path.join(".") === "Stepwise.registerClass" || c.path.join(".") === "Stepwise.registerErrorClass")) {
            const sym = checker?.getSymbolAtLocation(skipInner(tsi, node.arguments[0]!));
            if (sym) set.add(sym.flags & tsi.SymbolFlags.Alias ? checker!.getAliasedSymbol(sym) : sym);
          }
        }
        if (hasTag && tsi.isClassDeclaration(node) && node.name && /@serializable(?![\w$-])/.test(leadingJSDoc(tsi, sf, node))) {
          const sym = checker?.getSymbolAtLocation(node.name);
          if (sym) set.add(sym);
        }
        tsi.forEachChild(node, visit);
      };
      visit(sf);
    }
    this.registered = set;
    return set;
  }
}

// ---- helpers -------------------------------------------------------------------------------

export function isFunctionNode(tsi: TS, node: ts.Node): node is FunctionNode {
  return tsi.isFunctionDeclaration(node) || tsi.isMethodDeclaration(node) || tsi.isArrowFunction(node) || tsi.isFunctionExpression(node);
}

export function skipInner(tsi: TS, e: ts.Expression): ts.Expression {
  while (tsi.isParenthesizedExpression(e) || tsi.isAsExpression(e) || tsi.isSatisfiesExpression(e) || tsi.isTypeAssertionExpression(e) || tsi.isNonNullExpression(e))
    e = e.expression;
  return e;
}

function skipOuter(tsi: TS, node: ts.Node): ts.Node {
  let cur = node;
  while (
    cur.parent &&
    (tsi.isParenthesizedExpression(cur.parent) || tsi.isAsExpression(cur.parent) || tsi.isSatisfiesExpression(cur.parent) ||
      tsi.isTypeAssertionExpression(cur.parent) || tsi.isNonNullExpression(cur.parent))
  ) cur = cur.parent;
  return cur;
}

/** The name a chain shows for a helper: `notify`, `Util.stamp`. */
export function functionName(tsi: TS, fn: FunctionNode): string {
  if ((tsi.isFunctionDeclaration(fn) || tsi.isMethodDeclaration(fn)) && fn.name) {
    const own = nameText(tsi, fn.name);
    if (own !== undefined) return qualifiedName(tsi, fn, own);
  }
  const holder = skipOuter(tsi, fn).parent;
  if (holder && (tsi.isVariableDeclaration(holder) || tsi.isPropertyAssignment(holder) || tsi.isPropertyDeclaration(holder))) {
    const own = nameText(tsi, holder.name);
    if (own !== undefined) return qualifiedName(tsi, holder, own);
  }
  if (tsi.isFunctionExpression(fn) && fn.name) return fn.name.text;
  // `export default async () => {}`, `export default function () {}`: named after its module.
  if ((holder && tsi.isExportAssignment(holder)) || tsi.isFunctionDeclaration(fn)) {
    const base = fn.getSourceFile().fileName.replace(/^.*[\\/]/, "").replace(/\.[cm]?[jt]sx?$/, "");
    return `${base}.default`;
  }
  return "(anonymous function)";
}

/** An import or re-export of a package (not a relative path) names an outside API. */
function externalOfImport(tsi: TS, d: ts.Declaration): { type: "external"; module: string; path: string[] } | undefined {
  let spec: ts.Expression | undefined;
  let path: string[] | undefined;
  if (tsi.isImportSpecifier(d)) {
    spec = d.parent.parent.parent.moduleSpecifier;
    path = [(d.propertyName ?? d.name).text];
  } else if (tsi.isImportClause(d)) {
    spec = d.parent.moduleSpecifier;
    path = ["default"];
  } else if (tsi.isNamespaceImport(d)) {
    spec = d.parent.parent.moduleSpecifier;
    path = [];
  } else if (tsi.isExportSpecifier(d) && d.parent.parent.moduleSpecifier) {
    spec = d.parent.parent.moduleSpecifier;
    path = [(d.propertyName ?? d.name).text];
  } else if (tsi.isImportEqualsDeclaration(d) && tsi.isExternalModuleReference(d.moduleReference)) {
    spec = d.moduleReference.expression;
    path = [];
  }
  if (!spec || !path || !tsi.isStringLiteral(spec) || spec.text.startsWith(".") || spec.text.startsWith("/")) return undefined;
  // `import fs from "node:fs"` and `import * as fs` reach the same functions.
  const module = canonicalModule(spec.text);
  if (path[0] === "default" && module !== PACKAGE) path = [];
  return { type: "external", module, path };
}

function isGlobalDeclaration(tsi: TS, decl: ts.Node): boolean {
  for (let cur = decl.parent; cur; cur = cur.parent) {
    if (tsi.isSourceFile(cur)) return !tsi.isExternalModule(cur);
    if (tsi.isModuleDeclaration(cur)) return tsi.isIdentifier(cur.name) && cur.name.text === "global";
    if (tsi.isVariableDeclarationList(cur) || tsi.isVariableStatement(cur)) continue;
    if (!tsi.isVariableDeclaration(cur) && !tsi.isModuleBlock(cur)) return false;
  }
  return false;
}

function hasQueueOption(tsi: TS, node: ts.CallExpression): boolean {
  const opts = node.arguments[1] && skipInner(tsi, node.arguments[1]);
  return !!opts && tsi.isObjectLiteralExpression(opts) && opts.properties.some((p) => p.name !== undefined && nameText(tsi, p.name) === "queue");
}

function runStepName(tsi: TS, call: ts.CallExpression): string | undefined {
  const cfg = call.arguments[1] && skipInner(tsi, call.arguments[1]);
  if (!cfg || !tsi.isObjectLiteralExpression(cfg)) return undefined;
  for (const p of cfg.properties)
    if (tsi.isPropertyAssignment(p) && nameText(tsi, p.name) === "name" && tsi.isStringLiteralLike(p.initializer)) return p.initializer.text;
  return undefined;
}

/** Stepwise calls that are durable operations of a workflow, whose promise must be awaited. */
function isDurableStepwise(path: string[]): boolean {
  return path.length === 2 && path[0] === "Stepwise" && (MESSAGING.has(path[1]!) || STEP_LIKE.has(path[1]!));
}

const PROMISE_COMBINATORS = new Set(["all", "allSettled", "race", "any"]);
/** Methods that drop what their callback returns, or read it only as a truth value. */
const DROPS_CALLBACK_RESULT = new Set(["forEach", "filter", "some", "every", "find", "findIndex", "findLast", "findLastIndex"]);

function enclosingFunction(tsi: TS, node: ts.Node): FunctionNode | undefined {
  for (let cur = node.parent; cur; cur = cur.parent) if (isFunctionNode(tsi, cur)) return cur;
  return undefined;
}

/** `x` in `x = ...`, `x += ...`, `[x] = ...`, `x++`: a write, not a read of the promise. */
function isAssignmentTarget(tsi: TS, id: ts.Identifier): boolean {
  const cur = skipOuter(tsi, id);
  const p = cur.parent;
  return !!p && tsi.isBinaryExpression(p) && p.left === cur && p.operatorToken.kind === tsi.SyntaxKind.EqualsToken;
}

function isExportedVariable(tsi: TS, decl: ts.VariableDeclaration): boolean {
  const st = decl.parent?.parent;
  return !!st && tsi.isVariableStatement(st) && (tsi.getModifiers(st) ?? []).some((m) => m.kind === tsi.SyntaxKind.ExportKeyword);
}

function isRunStepCallee(tsi: TS, e: ts.Expression): boolean {
  e = skipInner(tsi, e);
  // An identifier may be an alias of it (`const { runStep } = Stepwise`); a member must be named so.
  return tsi.isIdentifier(e) || (tsi.isPropertyAccessExpression(e) && e.name.text === "runStep") || tsi.isElementAccessExpression(e);
}

function leadingJSDoc(tsi: TS, sf: ts.SourceFile, node: ts.Node): string {
  const ranges = tsi.getLeadingCommentRanges(sf.text, node.pos) ?? [];
  return ranges.map((r) => sf.text.slice(r.pos, r.end)).filter((t) => t.startsWith("/**")).join("\n");
}
