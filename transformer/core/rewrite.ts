/**
 * What a tagged function becomes. The user's own nodes are kept (visited, not
 * reprinted), so source maps and stack traces point at the user's lines.
 *
 *   /** @step *\/ async function f(a) { body }
 *     => async function f(a) { return __stepwise.run("step", { name: "f" }, this, arguments, async () => { body }); }
 *   /** @step *\/ const f = async (a) => body
 *     => const f = __stepwise.step(async (a) => body, { name: "f" })
 *   step(fn, cfg)  (the marker, imported from "stepwise")
 *     => step(fn, { name: "f", ...cfg })
 *
 * The arrow keeps `this`, `arguments` and `super`; the function stays async and, for a
 * declaration, hoisted.
 */
import type * as ts from "typescript";
import type { TS } from "./ts.js";
import type { Literal } from "./config.js";
import { PACKAGE, type FileAnalysis, type Operation } from "./markers.js";

export const HELPER = "__stepwise";

export interface RewriteOptions {
  /** Emit `const { __stepwise } = require("stepwise")` instead of an import declaration. */
  commonjs: boolean;
}

/** Whether tsc will emit this file as CommonJS, so the helper import is a require(). */
export function emitsCommonJS(tsi: TS, sf: ts.SourceFile, options: ts.CompilerOptions): boolean {
  // Internal but stable since 5.6; it knows about .cts/.mts and package.json "type".
  const worker = (tsi as unknown as { getEmitModuleFormatOfFileWorker?: (sf: ts.SourceFile, o: ts.CompilerOptions) => ts.ModuleKind })
    .getEmitModuleFormatOfFileWorker;
  if (typeof worker === "function") return worker(sf, options) === tsi.ModuleKind.CommonJS;
  const mod = options.module ?? ((options.target ?? 0) >= tsi.ScriptTarget.ES2015 ? tsi.ModuleKind.ES2015 : tsi.ModuleKind.CommonJS);
  if (mod >= tsi.ModuleKind.Node16 && mod <= tsi.ModuleKind.NodeNext) return sf.impliedNodeFormat !== tsi.ModuleKind.ESNext;
  return mod === tsi.ModuleKind.CommonJS;
}

export function rewriteFile(
  tsi: TS,
  analysis: FileAnalysis,
  context: ts.TransformationContext,
  opts: RewriteOptions,
): ts.SourceFile {
  const { sf, operations } = analysis;
  if (operations.length === 0) return sf;
  const f = context.factory;
  const byNode = new Map<ts.Node, Operation>();
  const registerAfter = new Map<ts.Node, Operation[]>();
  let needsHelper = false;
  for (const op of operations) {
    const node = op.target.form === "marker" ? op.target.call : op.target.fn;
    byNode.set(node, op);
    if (op.target.form !== "marker") needsHelper = true;
    if (op.register) {
      const list = registerAfter.get(op.register.after) ?? [];
      list.push(op);
      registerAfter.set(op.register.after, list);
    }
  }

  const helper = (member: string) => f.createPropertyAccessExpression(f.createIdentifier(HELPER), member);
  const literal = (v: Literal): ts.Expression =>
    typeof v === "string"
      ? f.createStringLiteral(v)
      : typeof v === "boolean"
        ? v ? f.createTrue() : f.createFalse()
        : v < 0
          ? f.createPrefixUnaryExpression(tsi.SyntaxKind.MinusToken, f.createNumericLiteral(-v))
          : f.createNumericLiteral(v);
  const nameProp = (id: string) => f.createPropertyAssignment("name", f.createStringLiteral(id));
  const configObject = (op: Operation) =>
    f.createObjectLiteralExpression([nameProp(op.id!), ...op.entries.map((e) => f.createPropertyAssignment(e.key, literal(e.value)))]);

  /** `a.b.c` from ["a", "b", "c"], with element access for names that are not identifiers. */
  const pathExpression = (path: string[]): ts.Expression => {
    let e: ts.Expression = f.createIdentifier(path[0]!);
    for (const seg of path.slice(1))
      e = /^[A-Za-z_$][\w$]*$/.test(seg) ? f.createPropertyAccessExpression(e, seg) : f.createElementAccessExpression(e, f.createStringLiteral(seg));
    return e;
  };
  const registerStatement = (op: Operation) => {
    const path = op.register!.path;
    const args: ts.Expression[] = [f.createStringLiteral(op.kind), f.createStringLiteral(op.id!), pathExpression(path)];
    const owner = path.length > 1 ? pathExpression(path.slice(0, -1)) : undefined;
    if (owner) args.push(owner);
    // The workflow's own options (maxRecoveryAttempts) travel with its registration.
    if (op.entries.length > 0) {
      if (!owner) args.push(f.createVoidZero());
      args.push(f.createObjectLiteralExpression(op.entries.map((e) => f.createPropertyAssignment(e.key, literal(e.value)))));
    }
    return f.createExpressionStatement(f.createCallExpression(helper("register"), undefined, args));
  };

  const wrapBody = (body: ts.Block, op: Operation): ts.Block => {
    const arrow = f.createArrowFunction(
      [f.createModifier(tsi.SyntaxKind.AsyncKeyword)],
      undefined,
      [],
      undefined,
      f.createToken(tsi.SyntaxKind.EqualsGreaterThanToken),
      body,
    );
    const call = f.createCallExpression(helper("run"), undefined, [
      f.createStringLiteral(op.kind),
      configObject(op),
      f.createThis(),
      f.createIdentifier("arguments"),
      arrow,
    ]);
    const outer = f.createBlock([f.createReturnStatement(call)], true);
    // The user's block stays the arrow's body (its statements keep their positions);
    // the outer block only borrows the range, without its comments, which the inner one emits.
    tsi.setTextRange(outer, body);
    tsi.setEmitFlags(outer, tsi.EmitFlags.NoComments);
    return outer;
  };

  const rewrite = (node: ts.Node, op: Operation): ts.Node => {
    const t = op.target;
    if (t.form === "body") {
      const fn = tsi.visitEachChild(t.fn, visitor, context) as ts.FunctionDeclaration | ts.MethodDeclaration;
      const body = wrapBody(fn.body!, op);
      return tsi.isFunctionDeclaration(fn)
        ? f.updateFunctionDeclaration(fn, fn.modifiers, fn.asteriskToken, fn.name, fn.typeParameters, fn.parameters, fn.type, body)
        : f.updateMethodDeclaration(fn, fn.modifiers, fn.asteriskToken, fn.name, fn.questionToken, fn.typeParameters, fn.parameters, fn.type, body);
    }
    if (t.form === "wrap") {
      let fn = tsi.visitEachChild(t.fn, visitor, context);
      // An inline tag (`= /** @step */ async () => ...`) sits in the trivia of the `async`
      // keyword; a fresh keyword keeps it from being printed a second time inside the call.
      const mods = fn.modifiers?.map((m) => f.createModifier(m.kind as ts.ModifierSyntaxKind));
      fn = tsi.isArrowFunction(fn)
        ? f.updateArrowFunction(fn, mods, fn.typeParameters, fn.parameters, fn.type, fn.equalsGreaterThanToken, fn.body)
        : f.updateFunctionExpression(fn, mods, fn.asteriskToken, fn.name, fn.typeParameters, fn.parameters, fn.type, fn.body);
      tsi.setTextRange(fn, { pos: t.fn.getStart(sf), end: t.fn.end });
      const call = f.createCallExpression(helper(op.kind), undefined, [fn, configObject(op)]);
      return tsi.setOriginalNode(tsi.setTextRange(call, node), node);
    }
    const call = tsi.visitEachChild(t.call, visitor, context);
    if (op.id === undefined || call.arguments.length === 0) return call;
    const [fn, cfg, ...rest] = call.arguments;
    let config: ts.Expression;
    if (!cfg) config = f.createObjectLiteralExpression([nameProp(op.id)]);
    else if (tsi.isObjectLiteralExpression(cfg)) config = f.updateObjectLiteralExpression(cfg, [nameProp(op.id), ...cfg.properties]);
    else config = f.createObjectLiteralExpression([nameProp(op.id), f.createSpreadAssignment(cfg)]);
    return f.updateCallExpression(call, call.expression, call.typeArguments, [fn!, config, ...rest]);
  };

  const visitor = (node: ts.Node): ts.VisitResult<ts.Node> => {
    const op = byNode.get(node);
    const result = op ? rewrite(node, op) : tsi.visitEachChild(node, visitor, context);
    const regs = registerAfter.get(node);
    return regs ? [result, ...regs.map(registerStatement)] : result;
  };

  const statements = tsi.visitNodes(sf.statements, visitor, tsi.isStatement);
  if (!needsHelper) return f.updateSourceFile(sf, statements);

  const helperImport = opts.commonjs
    ? f.createVariableStatement(
        undefined,
        f.createVariableDeclarationList(
          [
            f.createVariableDeclaration(
              f.createObjectBindingPattern([f.createBindingElement(undefined, undefined, HELPER)]),
              undefined,
              undefined,
              f.createCallExpression(f.createIdentifier("require"), undefined, [f.createStringLiteral(PACKAGE)]),
            ),
          ],
          tsi.NodeFlags.Const,
        ),
      )
    : // Synthesized, so tsc's import elision treats it as referenced and keeps it.
      f.createImportDeclaration(
        undefined,
        f.createImportClause(false, undefined, f.createNamedImports([f.createImportSpecifier(false, undefined, f.createIdentifier(HELPER))])),
        f.createStringLiteral(PACKAGE),
      );
  // After "use strict" and other directives, which must stay first.
  let prologue = 0;
  while (prologue < statements.length && isDirective(tsi, statements[prologue]!)) prologue++;
  return f.updateSourceFile(sf, [...statements.slice(0, prologue), helperImport, ...statements.slice(prologue)]);
}

function isDirective(tsi: TS, st: ts.Statement): boolean {
  return tsi.isExpressionStatement(st) && tsi.isStringLiteral(st.expression);
}
