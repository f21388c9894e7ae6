/**
 * Name resolution in one file without a type checker, for the hosts that have none
 * (esbuild's default mode, transpile-only). TypeScript's binder builds each scope's table
 * of local declarations; a name is looked up from the innermost scope out, as the
 * checker does, so a local `const step = ...` or a destructured `fetch` shadows the
 * import or global of the same name. Imports resolve to their import declaration: what
 * another file exports is not followed here (that needs a program).
 *
 * `bindSourceFile` and the `locals`/`symbol` properties are TypeScript internals (stable
 * since 2.x, present in 5.9). Should a TypeScript lack them, lookups find nothing and a
 * name counts as unknown, so the rules stay quiet rather than report a shadowed name.
 */
import type * as ts from "typescript";
import type { TS } from "../ts.js";

type Bindable = { locals?: Map<string, ts.Symbol>; symbol?: ts.Symbol };
type Binder = { bindSourceFile?: (sf: ts.SourceFile, options: ts.CompilerOptions) => void };

const bound = new WeakSet<ts.SourceFile>();

/** Whether the file could be bound (once; a file a program already bound is left as it is). */
export function bindFile(tsi: TS, sf: ts.SourceFile): boolean {
  if (bound.has(sf)) return true;
  if (!(sf as unknown as Bindable).locals) {
    const bind = (tsi as unknown as Binder).bindSourceFile;
    if (typeof bind !== "function") return false;
    bind(sf, {});
  }
  bound.add(sf);
  return true;
}

/**
 * The symbol a name refers to at `id`: a local declaration (variable, parameter, function,
 * class, import) of an enclosing scope. `undefined`: declared nowhere in the file (a
 * global), or the file cannot be bound; `unknown` tells the two apart.
 */
export function lookupName(tsi: TS, id: ts.Identifier): { symbol?: ts.Symbol; unknown?: true } {
  const sf = id.getSourceFile();
  if (!bindFile(tsi, sf)) return { unknown: true };
  const name = tsi.escapeLeadingUnderscores(id.text) as string;
  for (let cur: ts.Node | undefined = id.parent; cur; cur = cur.parent) {
    // A named function or class expression sees its own name.
    if ((tsi.isFunctionExpression(cur) || tsi.isClassExpression(cur)) && cur.name?.text === id.text && cur.name !== id) {
      const own = (cur as unknown as Bindable).symbol;
      if (own) return { symbol: own };
    }
    const sym = (cur as unknown as Bindable).locals?.get(name);
    // Types and interfaces share the table; only values and imports are callable. An exported
    // declaration's local symbol is flagged ExportValue only.
    if (sym && sym.flags & (tsi.SymbolFlags.Value | tsi.SymbolFlags.ExportValue | tsi.SymbolFlags.Alias)) return { symbol: sym };
  }
  return {};
}

/** The declaration that runs: for an overloaded function or method, the implementation. */
export function runnableDeclaration(tsi: TS, sym: ts.Symbol): ts.Declaration | undefined {
  const decls = sym.declarations ?? [];
  const impl = decls.find((d) => (tsi.isFunctionDeclaration(d) || tsi.isMethodDeclaration(d)) && d.body);
  return impl ?? sym.valueDeclaration ?? decls[0];
}
