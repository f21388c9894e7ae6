/**
 * SW1004: the arguments and result of a step, workflow or transaction are checkpointed,
 * so their types must be what the runtime's serializer (runtime/serialize.ts: superjson
 * plus error encoding) round-trips. This is the compile-time twin of
 * `unserializableReason`: functions, symbols, promises, WeakMap/WeakSet/WeakRef and
 * instances of classes with methods are refused, anywhere inside objects, arrays,
 * tuples, maps, sets, unions and generic instantiations; Date, Map, Set, BigInt,
 * undefined, RegExp, errors, typed arrays and plain data pass.
 *
 * A class counts as registered (its instances pass) when the program passes it to
 * `Stepwise.registerClass` (or `registerErrorClass`) anywhere, or when the class carries
 * a `/** @serializable *\/` tag (for classes registered where the compiler cannot see it).
 * Needs a type checker; hosts without one skip this rule.
 */
import type * as ts from "typescript";
import type { TS } from "../ts.js";
import type { SwDiagnostic } from "../diagnostics.js";
import type { Root, RuleContext } from "./context.js";
import { at } from "./shared.js";

interface Problem {
  /** `result.customer.save is a function` */
  reason: string;
  fix: string;
}

const PLAIN_FIX = "Pass plain data (objects, arrays, strings, numbers, Date, Map, Set) instead";
const CLASS_FIX = (name: string) => `Register the class with Stepwise.registerClass(${name}) (or tag it /** @serializable */), or use plain data`;

/** Built-in types the serializer stores as they are. */
const PASS = new Set([
  "Date", "RegExp", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Buffer",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
  "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array",
  "String", "Number", "Boolean", "BigInt", "Object",
]);
const WEAK = new Set(["WeakMap", "WeakSet", "WeakRef", "FinalizationRegistry"]);
const MAPS = new Set(["Map", "ReadonlyMap"]);
const SETS = new Set(["Set", "ReadonlySet"]);
const PROMISES = new Set(["Promise", "PromiseLike"]);

export function checkSerializable(ctx: RuleContext, root: Root): SwDiagnostic[] {
  const checker = ctx.checker;
  if (!checker) return [];
  const tsi = ctx.tsi;
  const walker = new TypeWalker(tsi, checker, ctx.registeredClasses());
  const out: SwDiagnostic[] = [];
  const what = `${root.kind} ${root.name}`;
  root.fn.parameters.forEach((p, i) => {
    if (tsi.isIdentifier(p.name) && p.name.text === "this") return;
    const name = tsi.isIdentifier(p.name) ? p.name.text : `argument ${i + 1}`;
    const problem = walker.check(checker.getTypeAtLocation(p), name);
    if (problem)
      out.push(at("SW1004", "error", root.sf, p,
        `an argument of ${what} cannot be checkpointed: ${problem.reason}. ${problem.fix}.`));
  });
  const sig = checker.getSignatureFromDeclaration(root.fn);
  if (sig) {
    const ret = checker.getReturnTypeOfSignature(sig);
    const awaited = checker.getAwaitedType(ret) ?? ret;
    const problem = walker.check(awaited, "result");
    if (problem)
      out.push(at("SW1004", "error", root.sf, root.fn.type ?? root.at,
        `the result of ${what} cannot be checkpointed: ${problem.reason}. ${problem.fix}.`));
  }
  return out;
}

class TypeWalker {
  private readonly fine = new Set<ts.Type>();
  private readonly walking = new Set<ts.Type>();

  constructor(
    private readonly tsi: TS,
    private readonly checker: ts.TypeChecker,
    private readonly registered: Set<ts.Symbol>,
  ) {}

  check(type: ts.Type, path: string, depth = 0): Problem | undefined {
    if (depth > 12 || this.fine.has(type) || this.walking.has(type)) return undefined;
    this.walking.add(type);
    try {
      const p = this.walk(type, path, depth);
      if (!p) this.fine.add(type);
      return p;
    } finally {
      this.walking.delete(type);
    }
  }

  private walk(type: ts.Type, path: string, depth: number): Problem | undefined {
    const tsi = this.tsi;
    const F = tsi.TypeFlags;
    const checker = this.checker;
    const flags = type.flags;
    if (flags & F.ESSymbolLike) return { reason: `${path} is a symbol`, fix: PLAIN_FIX };
    if (flags & (F.Any | F.Unknown | F.Never | F.Void | F.Undefined | F.Null | F.StringLike | F.NumberLike | F.BigIntLike | F.BooleanLike | F.EnumLike | F.NonPrimitive))
      return undefined;
    if (flags & F.TypeParameter) {
      const c = checker.getBaseConstraintOfType(type);
      return c && c !== type ? this.check(c, path, depth + 1) : undefined;
    }
    if (type.isUnionOrIntersection()) {
      for (const t of type.types) {
        const p = this.check(t, path, depth + 1);
        if (p) return p;
      }
      return undefined;
    }
    if (!(flags & F.Object)) return undefined;

    const sym = type.getSymbol();
    const name = sym?.getName();
    const external = !!sym && this.declaredOutside(sym);
    if (checker.isTupleType(type)) {
      const args = checker.getTypeArguments(type as ts.TypeReference);
      for (let i = 0; i < args.length; i++) {
        const p = this.check(args[i]!, `${path}[${i}]`, depth + 1);
        if (p) return p;
      }
      return undefined;
    }
    if (checker.isArrayType(type)) {
      const [el] = checker.getTypeArguments(type as ts.TypeReference);
      return el ? this.check(el, `${path}[i]`, depth + 1) : undefined;
    }
    if (external && name) {
      if (PROMISES.has(name)) return { reason: `${path} is a promise`, fix: "Await it before it is passed or returned" };
      if (WEAK.has(name)) return { reason: `${path} is a ${name}, which cannot be read back`, fix: PLAIN_FIX };
      if (PASS.has(name)) return undefined;
      if (MAPS.has(name) || SETS.has(name)) {
        const args = (type as ts.TypeReference).typeArguments ?? checker.getTypeArguments(type as ts.TypeReference);
        if (MAPS.has(name))
          return (args[0] && this.check(args[0], `${path} key`, depth + 1)) ?? (args[1] && this.check(args[1], `${path} value`, depth + 1)) ?? undefined;
        return args[0] ? this.check(args[0], `${path} element`, depth + 1) : undefined;
      }
    }
    if (type.getCallSignatures().length > 0 || type.getConstructSignatures().length > 0)
      return { reason: `${path} is a function`, fix: PLAIN_FIX };
    if (this.isError(type, 0)) return undefined;
    const registered = !!sym && this.registered.has(sym);
    const props = checker.getPropertiesOfType(type);
    if (!registered && sym && (sym.flags & tsi.SymbolFlags.Class || external)) {
      // Class instances keep their fields, not their methods (they live on the prototype).
      const method = props.find((p) => this.isPrototypeMember(p));
      if (method) return { reason: `${path} is an instance of class ${name}, whose methods would be lost (${method.getName()})`, fix: CLASS_FIX(name!) };
    }
    if (promiseLike(checker, type)) return { reason: `${path} is a promise`, fix: "Await it before it is passed or returned" };
    for (const prop of props) {
      if (registered && this.isPrototypeMember(prop)) continue;
      const key = prop.getName();
      // Symbol-keyed and #private members are not stored, and not looked at.
      if (key.startsWith("__@") || key.startsWith("#")) continue;
      const p = this.check(checker.getTypeOfSymbol(prop), `${path}.${key}`, depth + 1);
      if (p) return p;
    }
    for (const info of checker.getIndexInfosOfType(type)) {
      const p = this.check(info.type, `${path}[key]`, depth + 1);
      if (p) return p;
    }
    return undefined;
  }

  /** Methods and accessors declared in a class (or a library's class-like interface). */
  private isPrototypeMember(p: ts.Symbol): boolean {
    const tsi = this.tsi;
    if (!(p.flags & (tsi.SymbolFlags.Method | tsi.SymbolFlags.Accessor))) return false;
    return (p.declarations ?? []).some((d) => tsi.isClassLike(d.parent) || d.getSourceFile().isDeclarationFile);
  }

  private declaredOutside(sym: ts.Symbol): boolean {
    const decls = sym.declarations ?? [];
    return decls.length > 0 && decls.every((d) => d.getSourceFile().isDeclarationFile);
  }

  /** Errors are stored with their class name and fields, whatever methods they have. */
  private isError(type: ts.Type, depth: number): boolean {
    if (depth > 8) return false;
    const sym = type.getSymbol();
    if (sym && /Error$/.test(sym.getName()) && this.declaredOutside(sym)) return true;
    const tsi = this.tsi;
    if (!sym || !(sym.flags & (tsi.SymbolFlags.Class | tsi.SymbolFlags.Interface))) return false;
    const target = (type as ts.TypeReference).target ?? type;
    if (!((target as ts.ObjectType).objectFlags & tsi.ObjectFlags.ClassOrInterface)) return false;
    return (this.checker.getBaseTypes(target as ts.InterfaceType) ?? []).some((b) => this.isError(b, depth + 1));
  }
}

function promiseLike(checker: ts.TypeChecker, type: ts.Type): boolean {
  const then = type.getProperty("then");
  return !!then && checker.getTypeOfSymbol(then).getCallSignatures().length > 0;
}
