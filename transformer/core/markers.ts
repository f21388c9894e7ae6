/**
 * Finding what to rewrite in one source file: functions tagged `@step`, `@workflow`
 * or `@transaction` in a `/** *\/` comment, and calls to the `step`, `workflow` and
 * `transaction` markers imported from "stepwise".
 *
 * Tags are read from the comment text, not from ts.getJSDocTags: since TypeScript 5.3
 * tsc skips parsing most JSDoc, so the JSDoc API finds nothing in a real build.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import type { OperationKind } from "../../runtime/config.js";
import { checkObjectLiteral, parseTagConfig, type ConfigEntry, type Literal, type ParsedConfig } from "./config.js";
import { diag, type SwDiagnostic } from "./diagnostics.js";
import { nameText, qualifiedName, type IdEntry } from "./ids.js";
import { lookupName } from "./analysis/scope.js";

export const PACKAGE = "stepwise";
const KINDS: readonly OperationKind[] = ["step", "workflow", "transaction"];

/**
 * Cheap text test: a file that fails it is left untouched (emitted exactly as plain tsc would).
 * A tag that looks meant but is misspelled (`@Step`, `@steps`, `@wokflow`) passes it too, so
 * that SW1008 can say so instead of leaving the function silently non-durable.
 */
export function mightContainMarkers(text: string, alsoBareMarkers = false): boolean {
  return (
    /@(?:step|workflow|transaction)(?![\w$-])/.test(text) ||
    text.includes(PACKAGE) ||
    (alsoBareMarkers && /\b(?:step|workflow|transaction)\s*\(/.test(text)) ||
    hasTagLookalike(text)
  );
}

/** JSDoc's own tags and common ones of tools, never read as a misspelled Stepwise tag. */
const KNOWN_TAGS = new Set([
  "see", "since", "static", "summary", "template", "this", "throws", "todo", "type", "typedef", "tutorial",
  "param", "returns", "return", "example", "deprecated", "internal", "public", "private", "protected", "readonly",
  "override", "async", "abstract", "author", "callback", "class", "default", "description", "enum", "event",
  "file", "function", "link", "module", "namespace", "overload", "property", "satisfies", "serializable",
  "stop", "stub", "sets", "set",
]);

/**
 * The Stepwise tag a word was probably meant to be: the tag in another case (`Step`), with a
 * suffix (`steps`, `workflows`), or one edit away from it (two for the long names).
 * Undefined for the real tags and for anything else.
 */
export function meantTag(word: string): OperationKind | undefined {
  if ((KINDS as readonly string[]).includes(word) || KNOWN_TAGS.has(word.toLowerCase())) return undefined;
  const lower = word.toLowerCase();
  for (const kind of KINDS) {
    if (lower === kind || lower === `${kind}s` || lower === `${kind}ed`) return kind;
    if (editDistance(lower, kind) <= (kind.length <= 4 ? 1 : 2)) return kind;
  }
  return undefined;
}

/** Whether any `@word` in the text is a lookalike of a tag (pure text: no parse, so no TypeScript to load). */
export function hasTagLookalike(text: string): boolean {
  const re = /@([A-Za-z]{3,13})(?![\w$-])/g;
  for (let m; (m = re.exec(text)); ) if (meantTag(m[1]!)) return true;
  return false;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** What a tagged function or a marker call becomes. */
export type Target =
  /** A function declaration, class method or object-literal method: its body is wrapped. */
  | { form: "body"; fn: ts.FunctionDeclaration | ts.MethodDeclaration }
  /** A function expression or arrow in a const or property: wrapped in the marker call. */
  | { form: "wrap"; fn: ts.ArrowFunction | ts.FunctionExpression }
  /** A marker call already in the source: the ID is added to its config. */
  | { form: "marker"; call: ts.CallExpression };

export interface Operation {
  kind: OperationKind;
  target: Target;
  /** The ID, when it is known at compile time (a marker's non-literal config can hide it). */
  id?: string;
  /** Config entries to emit beside the name (tag forms); validated literals. */
  entries: ConfigEntry[];
  /** For workflows the runtime must find by name on recovery: what to register, after which statement. */
  register?: { after: ts.Statement; path: string[] };
  /** Where diagnostics and the manifest point. */
  at: { start: number; length: number };
}

export interface FileAnalysis {
  sf: ts.SourceFile;
  operations: Operation[];
  diagnostics: SwDiagnostic[];
  ids: IdEntry[];
}

export interface AnalyzeOptions {
  /** Resolves marker calls through symbols (aliases, re-exports). Without it, imports are matched by name. */
  checker?: ts.TypeChecker;
  /** Analyse even when the text test finds nothing (the file imports a module that re-exports markers). */
  force?: boolean;
}

export function analyzeFile(tsi: TS, sf: ts.SourceFile, opts: AnalyzeOptions = {}): FileAnalysis {
  const result: FileAnalysis = { sf, operations: [], diagnostics: [], ids: [] };
  if (sf.isDeclarationFile || !(opts.force || mightContainMarkers(sf.text, !!opts.checker))) return result;
  const a = new Analyzer(tsi, sf, result, opts);
  a.findTags();
  a.findMisspelledTags();
  a.findMarkerCalls();
  return result;
}

interface TagComment {
  kind: OperationKind;
  pos: number;
  end: number;
  tagStart: number;
  tagEnd: number;
  extraTag?: { start: number; name: string };
}

class Analyzer {
  private readonly text: string;
  constructor(
    private readonly tsi: TS,
    private readonly sf: ts.SourceFile,
    private readonly out: FileAnalysis,
    private readonly opts: AnalyzeOptions,
  ) {
    this.text = sf.text;
  }

  private error(code: SwDiagnostic["code"], at: ts.Node | { start: number; length: number }, message: string) {
    this.out.diagnostics.push(diag(code, this.sf, at, message));
  }

  // ---- tags -------------------------------------------------------------------------

  /** Every `/** ... *\/` comment holding a tag, in file order. */
  private tagComments(): TagComment[] {
    const found: TagComment[] = [];
    const text = this.text;
    // Every "/**" is a candidate, even inside a string or another comment: attachedNode()
    // keeps only real comments, so a stray "/**" cannot hide the tag of the next one.
    for (let pos = text.indexOf("/**"); pos >= 0; pos = text.indexOf("/**", pos + 3)) {
      const close = text.indexOf("*/", pos + 2);
      if (close < 0) break;
      const body = text.slice(pos, close);
      const re = /@(step|workflow|transaction)(?![\w$-])/g;
      let first: TagComment | undefined;
      for (let m; (m = re.exec(body)); ) {
        // A tag starts a line of the comment (after optional " * "), as JSDoc tags do;
        // "@step" in the middle of prose is not a tag.
        // After a first tag, another one may follow on the same line (`@transaction @step`),
        // as TypeScript's JSDoc parser reads it.
        const lineStart = Math.max(body.lastIndexOf("\n", m.index) + 1, 0);
        const before = body.slice(lineStart, m.index);
        const atLineStart = /^(\/\*\*)?[\s*]*$/.test(before);
        if (!atLineStart && !(first && /\s$/.test(before))) continue;
        const tagStart = pos + m.index;
        if (!first) {
          first = { kind: m[1] as OperationKind, pos, end: close + 2, tagStart, tagEnd: tagStart + m[0].length };
        } else if (!first.extraTag) first.extraTag = { start: tagStart, name: m[0] };
      }
      if (first) found.push(first);
    }
    return found;
  }

  /**
   * The outermost node whose leading trivia holds the comment: the declaration the tag
   * documents. Undefined when the text is not really a comment there (inside a string,
   * inside another comment) or nothing follows it.
   */
  private attachedNode(c: TagComment): ts.Node | undefined {
    const tsi = this.tsi;
    let cur: ts.Node = this.sf;
    for (;;) {
      let next: ts.Node | undefined;
      tsi.forEachChild(cur, (child) => {
        if (child.pos <= c.pos && c.pos < child.end) {
          next = child;
          return true;
        }
        return undefined;
      });
      if (!next) return undefined;
      if (next.getStart(this.sf) >= c.end) {
        // A comment on the same line as the previous token counts as that token's trailing comment.
        const comments = [
          ...(tsi.getLeadingCommentRanges(this.text, next.pos) ?? []),
          ...(tsi.getTrailingCommentRanges(this.text, next.pos) ?? []),
        ];
        return comments.some((r) => r.pos === c.pos && r.end === c.end) ? next : undefined;
      }
      cur = next;
    }
  }

  findTags(): void {
    for (const c of this.tagComments()) {
      const node = this.attachedNode(c);
      if (!node) continue;
      const tag = { start: c.tagStart, length: c.tagEnd - c.tagStart };
      if (c.extraTag) {
        this.error("SW1007", { start: c.extraTag.start, length: c.extraTag.name.length },
          `a function can carry only one of @step, @workflow and @transaction; remove ${c.extraTag.name}.`);
        continue;
      }
      const parsed = parseTagConfig(this.tsi, this.text, c.tagEnd, c.end - 2, c.kind);
      if (parsed && parsed.problems.length > 0) {
        for (const p of parsed.problems) this.error("SW1005", p, sentence(p.message));
        continue;
      }
      this.classifyTagged(c.kind, node, parsed, tag);
    }
  }

  /**
   * SW1008: a comment directly before a function that holds what looks like a tag but is not
   * read as one: `// @step` or `/* @step *\/` (a tag goes in a `/** *\/` comment), or a
   * misspelled tag (`@Step`, `@steps`). Either way the function would run as plain code.
   */
  findMisspelledTags(): void {
    const tsi = this.tsi;
    const text = this.text;
    const seen = new Set<number>();
    const re = /@([A-Za-z]{3,13})(?![\w$-])/g;
    for (let m; (m = re.exec(text)); ) {
      const word = m[1]!;
      const exact = (KINDS as readonly string[]).includes(word);
      const meant = exact ? (word as OperationKind) : meantTag(word);
      if (!meant) continue;
      const found = this.commentAround(m.index);
      if (!found || seen.has(found.range.pos)) continue;
      const { range, node } = found;
      const comment = text.slice(range.pos, range.end);
      const jsdoc = comment.startsWith("/**") && comment !== "/**/";
      // A tag starts a line of the comment, as JSDoc tags do; "@step" in prose is not one.
      const before = text.slice(Math.max(text.lastIndexOf("\n", m.index - 1) + 1, range.pos), m.index);
      if (!/^(\/\/+|\/\*+)?[\s*]*$/.test(before)) continue;
      // A real tag in a JSDoc comment: findTags() has it.
      if (exact && jsdoc) continue;
      if (!couldBeTagged(tsi, node)) continue;
      seen.add(range.pos);
      const at = { start: m.index, length: word.length + 1 };
      if (exact)
        this.error("SW1008", at,
          `@${word} in a ${comment.startsWith("//") ? "// line" : "/* */"} comment is not read as a tag, so this function runs as plain code, not durably; did you mean /** @${word} */?`);
      else
        this.error("SW1008", at, `@${word} is not a Stepwise tag, so this function runs as plain code, not durably; did you mean @${meant}?`);
    }
  }

  /** The comment holding `pos` and the node it leads, when `pos` is in a node's leading comments. */
  private commentAround(pos: number): { range: ts.CommentRange; node: ts.Node } | undefined {
    const tsi = this.tsi;
    let cur: ts.Node = this.sf;
    for (;;) {
      let next: ts.Node | undefined;
      tsi.forEachChild(cur, (child) => {
        if (child.pos <= pos && pos < child.end) {
          next = child;
          return true;
        }
        return undefined;
      });
      if (!next) return undefined;
      if (next.getStart(this.sf) > pos) {
        const range = (tsi.getLeadingCommentRanges(this.text, next.pos) ?? []).find((r) => r.pos <= pos && pos < r.end);
        return range && { range, node: next };
      }
      cur = next;
    }
  }

  private classifyTagged(kind: OperationKind, node: ts.Node, cfg: ParsedConfig | undefined, tag: { start: number; length: number }): void {
    const tsi = this.tsi;
    const notAStep = (what: string, fix: string) =>
      this.error("SW1007", tag, `@${kind} cannot be used on ${what}; ${fix}`);

    if (tsi.isFunctionDeclaration(node)) {
      if (!node.body) return notAStep("a function without a body (an overload or a declaration)", `put the tag on the implementation.`);
      if (node.asteriskToken) return notAStep("a generator", `a ${kind} returns one result: make it a plain async function.`);
      if (!node.name) return notAStep("an anonymous function", `give it a name, which becomes its ID.`);
      if (!this.isAsync(node, kind, node.name)) return;
      const own = node.name.text;
      this.add(kind, { form: "body", fn: node }, qualifiedName(tsi, node, own), cfg, node.name,
        kind === "workflow" ? { after: node, path: [own] } : undefined);
      return;
    }
    if (tsi.isVariableStatement(node)) {
      const decls = node.declarationList.declarations;
      if (decls.length !== 1) return notAStep("a statement declaring several variables", `declare the ${kind} in its own statement.`);
      return this.classifyVariable(kind, decls[0]!, cfg, tag);
    }
    if (tsi.isVariableDeclaration(node)) return this.classifyVariable(kind, node, cfg, tag);
    if (tsi.isArrowFunction(node) || tsi.isFunctionExpression(node)) {
      const holder = skipOuter(tsi, node).parent;
      if (holder && tsi.isVariableDeclaration(holder)) return this.classifyVariable(kind, holder, cfg, tag);
      if (holder && (tsi.isPropertyAssignment(holder) || tsi.isPropertyDeclaration(holder))) return this.classifyProperty(kind, holder, cfg, tag);
      return notAStep("a function that is not assigned to a name", `assign it to a const, or call ${kind}(fn, { name: "..." }).`);
    }
    if (tsi.isMethodDeclaration(node)) return this.classifyMethod(kind, node, cfg, tag);
    if (tsi.isPropertyAssignment(node) || tsi.isPropertyDeclaration(node)) return this.classifyProperty(kind, node, cfg, tag);
    if (tsi.isGetAccessorDeclaration(node) || tsi.isSetAccessorDeclaration(node))
      return notAStep(`a ${tsi.isGetAccessorDeclaration(node) ? "getter" : "setter"}`, `make it an async method.`);
    if (tsi.isConstructorDeclaration(node)) return notAStep("a constructor", `move the durable work into an async method.`);
    if (tsi.isClassDeclaration(node)) return notAStep("a class", `tag its async methods instead.`);
    return notAStep("something that is not a function", `tag an async function, method or arrow function.`);
  }

  private classifyVariable(kind: OperationKind, decl: ts.VariableDeclaration, cfg: ParsedConfig | undefined, tag: { start: number; length: number }): void {
    const tsi = this.tsi;
    const fn = decl.initializer && skipInner(tsi, decl.initializer);
    if (!tsi.isIdentifier(decl.name) || !fn || !(tsi.isArrowFunction(fn) || tsi.isFunctionExpression(fn))) {
      this.error("SW1007", tag, `@${kind} cannot be used on something that is not a function; tag a const initialised with an async arrow or function expression.`);
      return;
    }
    if (!this.checkFunctionValue(kind, fn, tag)) return;
    this.add(kind, { form: "wrap", fn }, qualifiedName(tsi, decl, decl.name.text), cfg, decl.name);
  }

  private classifyProperty(kind: OperationKind, prop: ts.PropertyAssignment | ts.PropertyDeclaration, cfg: ParsedConfig | undefined, tag: { start: number; length: number }): void {
    const tsi = this.tsi;
    const fn = prop.initializer && skipInner(tsi, prop.initializer);
    const own = nameText(tsi, prop.name);
    if (!fn || !(tsi.isArrowFunction(fn) || tsi.isFunctionExpression(fn))) {
      this.error("SW1007", tag, `@${kind} cannot be used on a property that does not hold a function; tag an async method or an async arrow function.`);
      return;
    }
    if (own === undefined) {
      this.error("SW1007", tag, `@${kind} needs a plain property name to build its ID; rename the property or use ${kind}(fn, { name: "..." }).`);
      return;
    }
    if (kind === "workflow" && tsi.isPropertyDeclaration(prop) && !isStatic(tsi, prop)) {
      this.error("SW1007", tag, `@workflow on an instance property cannot be recovered after a crash (there is no instance to call it on); make it static, or a top-level function.`);
      return;
    }
    if (!this.checkFunctionValue(kind, fn, tag)) return;
    this.add(kind, { form: "wrap", fn }, qualifiedName(tsi, prop, own), cfg, prop.name);
  }

  private classifyMethod(kind: OperationKind, m: ts.MethodDeclaration, cfg: ParsedConfig | undefined, tag: { start: number; length: number }): void {
    const tsi = this.tsi;
    const notAStep = (what: string, fix: string) => this.error("SW1007", tag, `@${kind} cannot be used on ${what}; ${fix}`);
    if (m.asteriskToken) return notAStep("a generator", `a ${kind} returns one result: make it a plain async method.`);
    if (!m.body) return notAStep("a method without a body (abstract or an overload)", `put the tag on the implementation.`);
    const own = nameText(tsi, m.name);
    if (own === undefined) return notAStep("a method with a computed name", `give it a plain name, which becomes its ID.`);
    if (!this.isAsync(m, kind, m.name)) return;
    const id = qualifiedName(tsi, m, own);
    let register: Operation["register"];
    if (kind === "workflow") {
      if (tsi.isClassLike(m.parent)) {
        if (!isStatic(tsi, m))
          return notAStep("an instance method", `a workflow is recovered after a crash by calling it again, and there is no instance to call it on: make it static, or a top-level function.`);
        if (tsi.isPrivateIdentifier(m.name)) return notAStep("a private method", `recovery must be able to call it: make it a public static method.`);
        const owner = classReference(tsi, m.parent);
        if (!owner) return notAStep("a method of a class that has no name", `name the class (or assign it to a const) so recovery can find the workflow.`);
        register = { after: owner.statement, path: [...owner.path, own] };
      } else {
        const owner = objectReference(tsi, m.parent);
        if (!owner) return notAStep("a method of an object that is not assigned to a const", `assign the object to a const so recovery can find the workflow, or make it a top-level function.`);
        register = { after: owner.statement, path: [...owner.path, own] };
      }
    }
    this.add(kind, { form: "body", fn: m }, id, cfg, m.name, register);
  }

  private isAsync(fn: ts.FunctionLikeDeclaration, kind: OperationKind, at: ts.Node): boolean {
    if (hasAsync(this.tsi, fn)) return true;
    this.error("SW1003", at, `a ${kind} must be async: its result is checkpointed before it is returned. Add 'async' (and return a Promise).`);
    return false;
  }

  private checkFunctionValue(kind: OperationKind, fn: ts.ArrowFunction | ts.FunctionExpression, tag: ts.Node | { start: number; length: number }): boolean {
    if (this.tsi.isFunctionExpression(fn) && fn.asteriskToken) {
      this.error("SW1007", tag, `@${kind} cannot be used on a generator; a ${kind} returns one result: make it a plain async function.`);
      return false;
    }
    if (!hasAsync(this.tsi, fn)) {
      this.error("SW1003", fn, `a ${kind} must be async: its result is checkpointed before it is returned. Add 'async' (and return a Promise).`);
      return false;
    }
    return true;
  }

  private add(kind: OperationKind, target: Target, defaultId: string, cfg: ParsedConfig | undefined, nameNode: ts.Node, register?: Operation["register"]): void {
    const at = { start: nameNode.getStart(this.sf), length: nameNode.getWidth(this.sf) };
    const id = cfg?.name ?? defaultId;
    const entries = (cfg?.entries ?? []).filter((e) => e.key !== "name");
    this.out.operations.push({ kind, target, id, entries, register, at });
    this.out.ids.push({ id, kind, sf: this.sf, ...at, config: Object.fromEntries(entries.map((e) => [e.key, e.value])) });
  }

  // ---- marker calls -----------------------------------------------------------------

  findMarkerCalls(): void {
    const tsi = this.tsi;
    const checker = this.opts.checker;
    const byName = checker ? undefined : importedMarkers(tsi, this.sf);
    if (byName && byName.names.size === 0 && byName.namespaces.size === 0) return;
    // A marker reaches a file only through an import, so only callees named like a marker or
    // like an imported binding are worth asking the checker about.
    // A const that aliases one (`const durable = step`) is worth asking about too; it is
    // declared before its calls, so the walk meets it first.
    const imported = checker ? importedNames(tsi, this.sf) : undefined;
    const worthResolving = (callee: ts.Expression) =>
      tsi.isIdentifier(callee)
        ? imported!.has(callee.text)
        : tsi.isPropertyAccessExpression(callee) && KINDS.includes(callee.name.text as OperationKind);
    const visit = (node: ts.Node): void => {
      if (tsi.isCallExpression(node)) {
        const kind = checker
          ? worthResolving(node.expression) ? markerKindBySymbol(tsi, checker, node.expression) : undefined
          : markerKindByScope(tsi, byName!, node.expression);
        if (kind) this.classifyMarker(kind, node);
      } else if (imported && tsi.isVariableDeclaration(node) && tsi.isIdentifier(node.name) && node.initializer) {
        const init = skipInner(tsi, node.initializer);
        if (tsi.isIdentifier(init) ? imported.has(init.text) : worthResolving(init)) imported.add(node.name.text);
      }
      tsi.forEachChild(node, visit);
    };
    visit(this.sf);
  }

  private classifyMarker(kind: OperationKind, call: ts.CallExpression): void {
    const tsi = this.tsi;
    const [fnArg, cfgArg] = call.arguments;
    const fn = fnArg && skipInner(tsi, fnArg);
    if (fn && (tsi.isArrowFunction(fn) || tsi.isFunctionExpression(fn)) && !this.checkFunctionValue(kind, fn, fn)) return;
    let cfg: ParsedConfig | undefined;
    if (cfgArg && tsi.isObjectLiteralExpression(cfgArg)) {
      cfg = checkObjectLiteral(tsi, cfgArg, this.sf, kind);
      if (cfg.problems.length > 0) {
        for (const p of cfg.problems) this.error("SW1005", p, sentence(p.message));
        return;
      }
    }
    // The name the marker's result is assigned to gives the default ID.
    const holder = skipOuter(tsi, call).parent;
    let defaultId: string | undefined;
    let nameNode: ts.Node = call.expression;
    if (holder && (tsi.isVariableDeclaration(holder) || tsi.isPropertyAssignment(holder) || tsi.isPropertyDeclaration(holder))) {
      const own = nameText(tsi, holder.name);
      if (own !== undefined) {
        defaultId = qualifiedName(tsi, holder, own);
        nameNode = holder.name;
      }
    }
    const hasExplicit = cfg ? cfg.hasName : cfgArg !== undefined;
    if (defaultId === undefined && !hasExplicit) {
      this.error("SW1005", call.expression,
        `${kind}(...) here has no name to take its ID from; assign it to a const, or pass { name: "..." } as its config.`);
      return;
    }
    const id = cfg?.hasName ? cfg.name : defaultId;
    const at = { start: nameNode.getStart(this.sf), length: nameNode.getWidth(this.sf) };
    // A config that already names the operation (or may, when it is not a literal) is kept as is;
    // its runtime name then wins over the injected one.
    this.out.operations.push({ kind, target: { form: "marker", call }, id: cfg?.hasName ? undefined : defaultId, entries: [], at });
    if (id !== undefined) {
      this.out.ids.push({ id, kind, sf: this.sf, ...at, config: Object.fromEntries((cfg?.entries ?? []).filter((e) => e.key !== "name").map((e) => [e.key, e.value])) as Record<string, Literal> });
    }
  }
}

// ---- helpers ---------------------------------------------------------------------------

/** Whether a tag on this node would make a step: a function, method, or a const or property holding one. */
function couldBeTagged(tsi: TS, node: ts.Node): boolean {
  if (tsi.isFunctionDeclaration(node) || tsi.isMethodDeclaration(node) || tsi.isArrowFunction(node) || tsi.isFunctionExpression(node)) return true;
  const fnInit = (e: ts.Expression | undefined) => {
    const f = e && skipInner(tsi, e);
    return !!f && (tsi.isArrowFunction(f) || tsi.isFunctionExpression(f));
  };
  if (tsi.isVariableStatement(node)) return node.declarationList.declarations.some((d) => fnInit(d.initializer));
  if (tsi.isVariableDeclaration(node) || tsi.isPropertyAssignment(node) || tsi.isPropertyDeclaration(node)) return fnInit(node.initializer);
  // `export default async function` and the like.
  if (tsi.isExportAssignment(node)) return fnInit(node.expression);
  return false;
}

/** Ends a message with a full stop unless it already ends with punctuation. */
function sentence(message: string): string {
  return /[.?!]$/.test(message) ? message : `${message}.`;
}

function hasAsync(tsi: TS, fn: ts.FunctionLikeDeclaration): boolean {
  return (tsi.getModifiers(fn) ?? []).some((m) => m.kind === tsi.SyntaxKind.AsyncKeyword);
}

function isStatic(tsi: TS, node: ts.Declaration): boolean {
  return (tsi.getCombinedModifierFlags(node) & tsi.ModifierFlags.Static) !== 0;
}

/** Up through parentheses and type assertions around an expression. */
function skipOuter(tsi: TS, node: ts.Node): ts.Node {
  let cur = node;
  while (
    cur.parent &&
    (tsi.isParenthesizedExpression(cur.parent) || tsi.isAsExpression(cur.parent) || tsi.isSatisfiesExpression(cur.parent) ||
      tsi.isTypeAssertionExpression(cur.parent) || tsi.isNonNullExpression(cur.parent))
  ) cur = cur.parent;
  return cur;
}

/** Down through parentheses and type assertions. */
function skipInner(tsi: TS, e: ts.Expression): ts.Expression {
  while (tsi.isParenthesizedExpression(e) || tsi.isAsExpression(e) || tsi.isSatisfiesExpression(e) || tsi.isTypeAssertionExpression(e) || tsi.isNonNullExpression(e))
    e = e.expression;
  return e;
}

/** How code after a class can reach it: `Orders` for a declaration, the const for a class expression. */
function classReference(tsi: TS, cls: ts.ClassLikeDeclaration): { statement: ts.Statement; path: string[] } | undefined {
  if (tsi.isClassDeclaration(cls)) return cls.name ? { statement: cls, path: [cls.name.text] } : undefined;
  const holder = skipOuter(tsi, cls).parent;
  return holder && tsi.isVariableDeclaration(holder) ? variableReference(tsi, holder) : undefined;
}

/** How code after an object literal can reach it: `Obj` or `Obj.nested` when it sits in a const. */
function objectReference(tsi: TS, obj: ts.Node): { statement: ts.Statement; path: string[] } | undefined {
  const path: string[] = [];
  let cur = skipOuter(tsi, obj);
  while (cur.parent && tsi.isPropertyAssignment(cur.parent)) {
    const name = nameText(tsi, cur.parent.name);
    if (name === undefined || !tsi.isObjectLiteralExpression(cur.parent.parent)) return undefined;
    path.unshift(name);
    cur = skipOuter(tsi, cur.parent.parent);
  }
  if (!cur.parent || !tsi.isVariableDeclaration(cur.parent)) return undefined;
  const base = variableReference(tsi, cur.parent);
  return base && { statement: base.statement, path: [...base.path, ...path] };
}

function variableReference(tsi: TS, decl: ts.VariableDeclaration): { statement: ts.Statement; path: string[] } | undefined {
  const stmt = decl.parent?.parent;
  if (!tsi.isIdentifier(decl.name) || !stmt || !tsi.isVariableStatement(stmt)) return undefined;
  return { statement: stmt, path: [decl.name.text] };
}

/** Local names bound by the file's import declarations. */
function importedNames(tsi: TS, sf: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  for (const st of sf.statements) {
    if (tsi.isImportEqualsDeclaration(st)) names.add(st.name.text);
    if (!tsi.isImportDeclaration(st) || !st.importClause) continue;
    const { name, namedBindings } = st.importClause;
    if (name) names.add(name.text);
    if (namedBindings && tsi.isNamedImports(namedBindings)) for (const el of namedBindings.elements) names.add(el.name.text);
  }
  return names;
}

/** Marker imports of a file, for resolution without a type checker. */
interface ImportedMarkers {
  names: Map<string, OperationKind>;
  namespaces: Set<string>;
}

function importedMarkers(tsi: TS, sf: ts.SourceFile): ImportedMarkers {
  const names = new Map<string, OperationKind>();
  const namespaces = new Set<string>();
  for (const st of sf.statements) {
    if (!tsi.isImportDeclaration(st) || !tsi.isStringLiteral(st.moduleSpecifier) || st.moduleSpecifier.text !== PACKAGE) continue;
    const clause = st.importClause;
    if (!clause || clause.isTypeOnly || !clause.namedBindings) continue;
    if (tsi.isNamespaceImport(clause.namedBindings)) namespaces.add(clause.namedBindings.name.text);
    else
      for (const el of clause.namedBindings.elements) {
        const exported = (el.propertyName ?? el.name).text as OperationKind;
        if (!el.isTypeOnly && KINDS.includes(exported)) names.set(el.name.text, exported);
      }
  }
  return { names, namespaces };
}

/**
 * Without a checker: the callee's name is looked up in the file's scopes, so a local
 * `const step = ...` shadowing the import is not a marker, and a const alias of one
 * (`const durable = step`) is. Should the file not bind, imports are matched by name.
 */
function markerKindByScope(tsi: TS, m: ImportedMarkers, callee: ts.Expression, depth = 0): OperationKind | undefined {
  callee = skipInner(tsi, callee);
  if (depth > 8) return undefined;
  const ns = tsi.isPropertyAccessExpression(callee) && tsi.isIdentifier(callee.expression) ? callee.expression : undefined;
  const id = tsi.isIdentifier(callee) ? callee : ns;
  if (!id) return undefined;
  const member = ns ? ((callee as ts.PropertyAccessExpression).name.text as OperationKind) : undefined;
  if (member !== undefined && !KINDS.includes(member)) return undefined;
  const found = lookupName(tsi, id);
  if (found.unknown) return member !== undefined ? (m.namespaces.has(id.text) ? member : undefined) : m.names.get(id.text);
  const decl = found.symbol?.declarations?.[0];
  if (!decl) return undefined;
  if (member !== undefined) return tsi.isNamespaceImport(decl) && fromPackage(tsi, decl) ? member : undefined;
  if (tsi.isImportSpecifier(decl)) return fromPackage(tsi, decl) ? m.names.get(id.text) : undefined;
  const alias = constAlias(tsi, decl);
  return alias ? markerKindByScope(tsi, m, alias, depth + 1) : undefined;
}

/** `durable` in `const durable = step` (or `= sw.step`): what it aliases. A `let` may be reassigned, so it does not count. */
function constAlias(tsi: TS, decl: ts.Node): ts.Expression | undefined {
  if (!tsi.isVariableDeclaration(decl) || !decl.initializer || !(tsi.getCombinedNodeFlags(decl) & tsi.NodeFlags.Const)) return undefined;
  const init = skipInner(tsi, decl.initializer);
  return tsi.isIdentifier(init) || tsi.isPropertyAccessExpression(init) ? init : undefined;
}

/**
 * Follows the callee's symbol through its aliases (an aliased import, a re-export
 * through the user's own module) to an import or export of a marker from "stepwise".
 * A local function that happens to be called `step` is not an alias, so it never matches.
 */
function markerKindBySymbol(tsi: TS, checker: ts.TypeChecker, callee: ts.Expression, depth = 0): OperationKind | undefined {
  if (tsi.isPropertyAccessExpression(callee)) {
    const name = callee.name.text as OperationKind;
    if (!KINDS.includes(name) || !tsi.isIdentifier(callee.expression)) return undefined;
    const ns = checker.getSymbolAtLocation(callee.expression);
    return ns && aliasChain(tsi, checker, ns).some((d) => tsi.isNamespaceImport(d) && fromPackage(tsi, d)) ? name : undefined;
  }
  if (!tsi.isIdentifier(callee)) return undefined;
  const sym = checker.getSymbolAtLocation(callee);
  if (!sym) return undefined;
  if (!(sym.flags & tsi.SymbolFlags.Alias)) {
    // `const durable = step`: a const alias of a marker.
    const alias = sym.valueDeclaration && constAlias(tsi, sym.valueDeclaration);
    return alias && depth < 8 ? markerKindBySymbol(tsi, checker, alias, depth + 1) : undefined;
  }
  for (const d of aliasChain(tsi, checker, sym)) {
    if ((tsi.isImportSpecifier(d) || tsi.isExportSpecifier(d)) && fromPackage(tsi, d)) {
      const exported = (d.propertyName ?? d.name).text as OperationKind;
      if (KINDS.includes(exported)) return exported;
    }
  }
  return undefined;
}

function aliasChain(tsi: TS, checker: ts.TypeChecker, sym: ts.Symbol): ts.Declaration[] {
  const decls: ts.Declaration[] = [];
  let s: ts.Symbol | undefined = sym;
  for (let i = 0; s && s.flags & tsi.SymbolFlags.Alias && i < 16; i++) {
    decls.push(...(s.declarations ?? []));
    s = checker.getImmediateAliasedSymbol(s);
  }
  return decls;
}

function fromPackage(tsi: TS, d: ts.Node): boolean {
  for (let cur: ts.Node | undefined = d; cur; cur = cur.parent) {
    if ((tsi.isImportDeclaration(cur) || tsi.isExportDeclaration(cur)) && cur.moduleSpecifier)
      return tsi.isStringLiteral(cur.moduleSpecifier) && cur.moduleSpecifier.text === PACKAGE;
  }
  return false;
}
