/**
 * The TypeScript API as a value. Hosts pass the instance that is compiling (ts-patch's
 * patched compiler, the language service's), so the core never loads a second copy.
 * `typeof import(...)` rather than `typeof ts` from a namespace import, which would
 * demand a synthesized `default` that `import ts from "typescript"` does not have.
 */
export type TS = typeof import("typescript");
