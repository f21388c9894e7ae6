/**
 * The Node host's load hook (`node --import stepwise/register app.ts`, register.ts): each
 * file the application loads is handed on as Node (or tsx) loaded it, unless its text has
 * a tag or mentions the package; only then is the rest of the transformer, and
 * TypeScript, loaded (loader-transform.ts). A process none of whose files has a tag pays
 * a file read and a text test per file of its own (not node_modules).
 *
 * The same functions serve both hook APIs: module.registerHooks (synchronous, in the
 * application's thread; Node 22.15+) and module.register (asynchronous, in a hooks
 * thread; Node 20, and beside tsx's own hooks).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { mightContainMarkers, PACKAGE } from "./core/markers.js";
import type { LoadResult } from "./loader-transform.js";

export type { LoadResult };
type Transform = typeof import("./loader-transform.js");

const FILTER = /\.(?:[cm]?tsx?|[cm]?jsx?)$/;

/** This package's built code (dist/), which mentions the package everywhere and has nothing to rewrite. */
const BUILT = resolve(dirname(fileURLToPath(import.meta.url)), "..") + sep;

/** The file a hook should look at: a file: URL of a script of the application's own. */
function ownFile(url: string): string | undefined {
  if (!url.startsWith("file:")) return undefined;
  const path = fileURLToPath(url);
  if (!FILTER.test(path) || /[\\/]node_modules[\\/]/.test(path) || path.startsWith(BUILT)) return undefined;
  return path;
}

/**
 * The core's text test, narrowed for a process start: a file that mentions the package
 * but names no marker (`import { Stepwise } from "stepwise"` in an entry point) has
 * nothing to rewrite, so it does not cost a TypeScript load.
 */
function needsTransform(text: string): boolean {
  if (!mightContainMarkers(text)) return false;
  const withoutPackage = text.split(PACKAGE).join("");
  return mightContainMarkers(withoutPackage) || /\b(?:step|workflow|transaction)\b/.test(withoutPackage);
}

function tagged(url: string): { path: string; text: string } | undefined {
  const path = ownFile(url);
  if (!path) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
  return needsTransform(text) ? { path, text } : undefined;
}

let transform: Transform | undefined;

/** module.registerHooks's load: synchronous, so the transform module is required (Node 22.12+ requires ES modules). */
export function loadSync(url: string, context: object, nextLoad: (url: string, context: object) => LoadResult): LoadResult {
  const result = nextLoad(url, context);
  const file = tagged(url);
  if (!file) return result;
  transform ??= createRequire(import.meta.url)("./loader-transform.js") as Transform;
  return transform.rewriteLoaded(file.path, file.text, result);
}

/** module.register's load. */
export async function load(url: string, context: object, nextLoad: (url: string, context: object) => Promise<LoadResult>): Promise<LoadResult> {
  let result: LoadResult;
  try {
    result = await nextLoad(url, context);
  } catch (e) {
    // Node 20 has no type stripping: say what runs TypeScript there.
    if ((e as { code?: string }).code === "ERR_UNKNOWN_FILE_EXTENSION" && /\.[cm]?tsx?$/.test(url))
      throw new Error(
        `Node ${process.versions.node} cannot run TypeScript (${fileURLToPath(url)}) by itself: run it with tsx (tsx --import stepwise/register app.ts), ` +
          `or on Node 22.6+, whose type stripping stepwise/register works with.`,
        { cause: e },
      );
    throw e;
  }
  const file = tagged(url);
  if (!file) return result;
  transform ??= await import("./loader-transform.js");
  return transform.rewriteLoaded(file.path, file.text, result);
}
