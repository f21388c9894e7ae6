/**
 * The esbuild plugin's rewritten files, kept on disk so that a build in a new process
 * (a build script run again, CI with a cached node_modules) does not parse and rewrite
 * again the files that have not changed, and needs no TypeScript at all when none has.
 * babel-loader's cacheDirectory and Jest's transform cache do the same for the same reason:
 * in a fresh process the TypeScript parser runs cold, at about 2 ms a file.
 *
 * An entry's key is a hash of the file's path, its text and a fingerprint of the code that
 * made it (this package's transformer and rules, the runtime's config schema, TypeScript's
 * version), so an edit, an upgrade or a rebuilt transformer is a miss, never a stale hit.
 * An unreadable or damaged entry is a miss too. Entries are written when the build ends.
 * Entries older than 30 days go once the folder holds more than MAX_ENTRIES.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FileOutcome } from "./file.js";

const FORMAT = 1;
const MAX_ENTRIES = 5000;
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;

interface Entry {
  format: number;
  outcome: FileOutcome;
}

export class FileCache {
  private readonly pending = new Map<string, FileOutcome>();
  private pruned = false;

  constructor(
    private readonly dir: string,
    private readonly fingerprint: string,
  ) {}

  private key(fileName: string, text: string): string {
    return createHash("sha256").update(this.fingerprint).update("\0").update(fileName).update("\0").update(text).digest("hex").slice(0, 40);
  }

  get(fileName: string, text: string): FileOutcome | undefined {
    const key = this.key(fileName, text);
    const waiting = this.pending.get(key);
    if (waiting) return waiting;
    try {
      const entry = JSON.parse(readFileSync(join(this.dir, `${key}.json`), "utf8")) as Entry;
      return entry.format === FORMAT && Array.isArray(entry.outcome?.diagnostics) && Array.isArray(entry.outcome.ids) ? entry.outcome : undefined;
    } catch {
      return undefined;
    }
  }

  /** Kept in memory until flush(): a build's onLoad does not wait on writes. */
  set(fileName: string, text: string, outcome: FileOutcome): void {
    this.pending.set(this.key(fileName, text), outcome);
  }

  /** Writes what the build added (each entry whole or not at all), then prunes (once for each plugin instance: a readdir). */
  flush(): void {
    if (this.pending.size > 0) {
      try {
        mkdirSync(this.dir, { recursive: true });
        for (const [key, outcome] of this.pending) {
          const file = join(this.dir, `${key}.json`);
          const tmp = `${file}.${process.pid}.tmp`;
          writeFileSync(tmp, JSON.stringify({ format: FORMAT, outcome } satisfies Entry));
          renameSync(tmp, file);
        }
      } catch {
        // A read-only or full disk: the next build transforms again, nothing else changes.
      }
      this.pending.clear();
    }
    if (!this.pruned) {
      this.pruned = true;
      prune(this.dir);
    }
  }
}

function prune(dir: string): void {
  try {
    const names = readdirSync(dir).filter((n) => n.endsWith(".json"));
    if (names.length <= MAX_ENTRIES) return;
    const cutoff = Date.now() - MAX_AGE_MS;
    const entries = names.map((n) => ({ path: join(dir, n), mtime: statSync(join(dir, n)).mtimeMs })).sort((a, b) => a.mtime - b.mtime);
    // The old ones, and then the oldest until half the limit is left.
    const excess = Math.max(entries.filter((e) => e.mtime < cutoff).length, entries.length - MAX_ENTRIES / 2);
    for (const e of entries.slice(0, excess)) rmSync(e.path, { force: true });
  } catch {
    // Another build pruning at the same time, or no folder yet.
  }
}

/**
 * A hash of the code whose output is cached: this package's transformer (core, rules, the
 * esbuild pipeline), the runtime's config schema the rules validate against, and the
 * TypeScript version that parses. Read once per process (about 150 KB).
 */
export function transformerFingerprint(typescriptVersion: string): string {
  let f = fingerprints.get(typescriptVersion);
  if (!f) fingerprints.set(typescriptVersion, (f = computeFingerprint(typescriptVersion)));
  return f;
}

const fingerprints = new Map<string, string>();

function computeFingerprint(typescriptVersion: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const hash = createHash("sha256").update(`${FORMAT}\0${typescriptVersion}\0`);
  const add = (file: string) => hash.update(file.slice(here.length)).update(readFileSync(file));
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.[cm]?[jt]s$/.test(e.name) && !e.name.endsWith(".d.ts")) add(p);
    }
  };
  walk(join(here, ".."));
  for (const ext of [".js", ".ts"]) {
    const schema = join(here, "..", "..", "runtime", `config${ext}`);
    try {
      add(schema);
    } catch {
      // The other extension: built output holds .js, the sources .ts.
    }
  }
  return hash.digest("hex");
}
