/**
 * What to tell a user whose tagged function reached the runtime unrewritten: how to add
 * the Stepwise transform for the toolchain this process runs under, read from the
 * process itself (a tagged function that was never rewritten is plain code, so the
 * runtime cannot see the tag; it can see how it was started).
 */
export interface ProcessFacts {
  env: NodeJS.ProcessEnv;
  execArgv: readonly string[];
  /** The entry script (process.argv[1]). */
  main: string | undefined;
  bun: boolean;
}

function currentProcess(): ProcessFacts {
  return { env: process.env, execArgv: process.execArgv, main: process.argv[1], bun: typeof process.versions.bun === "string" };
}

export function transformHint(p: ProcessFacts = currentProcess()): string {
  const args = p.execArgv.join(" ");
  if (p.bun) return `under bun, preload the plugin from "stepwise/bun" (bunfig.toml: preload)`;
  if (p.env.VITEST) return `under vitest, add plugins: [stepwise()] from "stepwise/vite" to vitest.config.ts`;
  if (p.env.NEXT_RUNTIME) return `under Next.js, wrap the config with withStepwise(nextConfig) from "stepwise/next"`;
  if (/stepwise[\\/].*register|stepwise\/register/.test(args))
    return `stepwise/register is loaded, so the file defining it was not rewritten: files under node_modules are left alone, and a file loaded before the hook was registered is too`;
  if (/[\\/]tsx[\\/]|(?:^|\s)tsx(?:\/|\s|$)/.test(args)) return `under tsx, run tsx --import stepwise/register ${p.main ? shortName(p.main) : "app.ts"}`;
  if (/ts-node/.test(args)) return `ts-node runs no Stepwise transform: run tsx --import stepwise/register, or build with tspc`;
  if (p.main && /\.[cm]?tsx?$/.test(p.main)) return `run node --import stepwise/register ${shortName(p.main)} (Node 22.6+ strips the types)`;
  return (
    `build with tspc ("plugins": [{ "transform": "stepwise/transformer" }] in tsconfig.json), a Stepwise bundler plugin (stepwise/esbuild, stepwise/vite, ...), ` +
    `or on TypeScript 7 run stepwise build on the emitted JavaScript; stepwise verify <outdir> catches a build that missed it`
  );
}

function shortName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}
