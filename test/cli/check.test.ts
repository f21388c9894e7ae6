/**
 * `stepwise check`: a project with one file of each kind of misuse reports each one at
 * its file, line and column (tsc's format, and JSON) and exits 1; the repo's examples
 * report nothing and exit 0; a missing tsconfig says what to pass.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { runCheck } from "../../cli/check.js";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(REPO, "cli/index.ts");
// tsx by path: the commands run in temp folders that have no node_modules.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

const FILES: Record<string, string> = {
  "tsconfig.json": JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      skipLibCheck: true,
      types: ["node"],
      typeRoots: [join(REPO, "node_modules/@types")],
      // The package by name, from this repo's source.
      paths: { stepwise: [join(REPO, "runtime/index.ts")] },
    },
    include: ["src"],
  }),
  "package.json": JSON.stringify({ name: "misuse", private: true, type: "module" }),
  "src/sw1001.ts": `import { Stepwise } from "stepwise";

/** @workflow */
export async function refund(id: string) {
  return id;
}

/** @step */
export async function chargeCard(id: string) {
  await Stepwise.startWorkflow(refund)(id);
}
`,
  "src/notify.ts": `import { Stepwise } from "stepwise";

export async function notify(id: string) {
  await Stepwise.send(id, "receipt");
}
`,
  "src/sw1002.ts": `import { notify } from "./notify.js";

/** @step */
export async function sendReceipt(id: string) {
  await notify(id);
}
`,
  "src/sw1004.ts": `/** @step */
export async function loadCustomer(id: string): Promise<{ id: string; save: () => void }> {
  return { id, save: () => {} };
}
`,
  "src/sw1101.ts": `/** @workflow */
export async function pick(ids: string[]) {
  return ids[Math.floor(Math.random() * ids.length)];
}
`,
  "src/sw1102.ts": `import { chargeCard } from "./sw1001.js";

/** @workflow */
export async function checkout(id: string) {
  chargeCard(id);
  return id;
}
`,
};

const EXPECTED = [
  "src/notify.ts",
  `src/sw1001.ts(10,9): error SW1001: step chargeCard starts a workflow with Stepwise.startWorkflow (chargeCard -> Stepwise.startWorkflow): a step may run again on retry or recovery, which would start it again. Start it from the workflow body instead.`,
  `src/sw1002.ts(5,9): error SW1002: step sendReceipt calls Stepwise.send (sendReceipt -> notify -> Stepwise.send): it is a durable operation of the workflow, and a step may run again on retry or recovery, which would repeat it. Call Stepwise.send from the workflow body instead, with what the step returns.`,
  `src/sw1004.ts(2,49): error SW1004: the result of step loadCustomer cannot be checkpointed: result.save is a function. Pass plain data (objects, arrays, strings, numbers, Date, Map, Set) instead.`,
  `src/sw1101.ts(3,25): warning SW1101: workflow pick calls Math.random outside a step (pick -> Math.random): on replay it gives another result, and the workflow can take another path than the one recorded. Wrap it in a step, or use Stepwise.randomUUID(), whose result is recorded.`,
  `src/sw1102.ts(5,3): warning SW1102: the promise of step chargeCard is never awaited in workflow checkout (checkout -> chargeCard): the workflow can finish before it is recorded, and its failure goes unseen. Await it, return it, or pass it to Promise.all.`,
].filter((l) => l.includes("("));

const dirs: string[] = [];
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "stepwise-check-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function stepwise(cwd: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", TSX, cli, ...args], { cwd, encoding: "utf8" });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe("stepwise check", () => {
  test("one file of each misuse: each diagnostic at its file, line and column; exit 1", () => {
    const dir = project(FILES);
    const r = stepwise(dir, "check");
    expect(r.err).toBe("");
    expect(r.out.split("\n").filter(Boolean)).toEqual(EXPECTED);
    expect(r.code).toBe(1);
  });

  test("--format json, and -p with a folder", () => {
    const dir = project(FILES);
    const r = runCheck({ project: ".", format: "json", cwd: dir });
    expect(r.exitCode).toBe(1);
    const parsed = JSON.parse(r.output) as { file: string; line: number; column: number; code: string; category: string }[];
    expect(parsed.map((d) => `${d.file}:${d.line}:${d.column} ${d.category} ${d.code}`)).toEqual([
      "src/sw1001.ts:10:9 error SW1001",
      "src/sw1002.ts:5:9 error SW1002",
      "src/sw1004.ts:2:49 error SW1004",
      "src/sw1101.ts:3:25 warning SW1101",
      "src/sw1102.ts:5:3 warning SW1102",
    ]);
  });

  test("warnings alone exit 0", () => {
    const dir = project({ ...FILES, "src/sw1001.ts": FILES["src/sw1001.ts"]!.replace("await Stepwise.startWorkflow(refund)(id);", "return id;"),
      "src/sw1002.ts": "export {};\n", "src/sw1004.ts": "export {};\n" });
    const r = runCheck({ cwd: dir });
    expect(r.diagnostics.map((d) => d.code)).toEqual(["SW1101", "SW1102"]);
    expect(r.exitCode).toBe(0);
  });

  test("options this TypeScript does not know (a config for a newer compiler) are noted, and the check goes on", () => {
    const config = JSON.parse(FILES["tsconfig.json"]!) as { compilerOptions: Record<string, unknown> };
    config.compilerOptions.someOptionFromTypeScript7 = true;
    const dir = project({ ...FILES, "tsconfig.json": JSON.stringify(config) });
    const r = runCheck({ cwd: dir });
    expect(r.notes).toEqual([expect.stringMatching(/^note: TypeScript 5\.9\.\d+ \(used by stepwise check\) does not understand some options .*\n.*Unknown compiler option 'someOptionFromTypeScript7'/s)]);
    expect(r.diagnostics).toHaveLength(5);
  });

  test("the repo's examples: nothing printed, exit 0", () => {
    const r = stepwise(REPO, "check", "-p", "examples/tsconfig.json");
    expect(r.err).toBe("");
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
  });

  test("a missing tsconfig says what to pass", () => {
    const dir = project({ "a.ts": "" });
    const r = stepwise(dir, "check", "-p", "nope/tsconfig.json");
    expect(r.code).toBe(1);
    expect(r.err).toContain("cannot find nope/tsconfig.json: pass the project's tsconfig.json with -p");
  });
});
