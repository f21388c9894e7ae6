/**
 * The dashboard end to end, in headless Chromium: a process launched with
 * `dashboard: { port }` serves the page; the tests start workflows, read the list
 * (filters, paging, newest first), watch a run's timeline grow as its steps complete,
 * and cancel, resume and fork runs through the page's confirmations.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { NonRetryableError, Stepwise, step, workflow } from "stepwise";
import { tempDir } from "../helpers/databases.js";
import { artifacts, freePort, launchBrowser } from "./browser.js";

// A step that waits until the test opens its gate, so a run can be watched mid-way.
const gates = new Map<string, () => void>();
async function opened(key: string): Promise<void> {
  await new Promise<void>((resolve) => gates.set(key, resolve));
}
async function open(key: string): Promise<void> {
  for (let i = 0; i < 200 && !gates.has(key); i++) await new Promise((r) => setTimeout(r, 50));
  const release = gates.get(key);
  if (!release) throw new Error(`nothing waits at gate ${key}`);
  gates.delete(key);
  release();
}

const failures = new Map<string, number>();

const fetchOrder = step(async (id: string) => ({ id, items: ["kettle", "mugs"], placedAt: new Date("2026-11-01T10:00:00Z") }), { name: "fetchOrder" });
const reserveStock = step(
  async (id: string) => {
    const n = (failures.get(id) ?? 0) + 1;
    failures.set(id, n);
    if (n <= 2) throw new Error(`warehouse busy (try ${n})`);
    await new Promise((r) => setTimeout(r, 120));
    return "reserved";
  },
  { name: "reserveStock", retriesAllowed: true, maxAttempts: 4, intervalSeconds: 0.1 },
);
const waitForApproval = step(
  async (id: string) => {
    await opened(`approve:${id}`);
    return "approved";
  },
  { name: "waitForApproval" },
);
const sendReceipt = step(async (id: string) => `receipt for ${id}`, { name: "sendReceipt" });
const receipt = workflow(async (id: string) => sendReceipt(id), { name: "receipt" });

const order = workflow(
  async (id: string) => {
    await fetchOrder(id);
    await reserveStock(id);
    await Stepwise.setEvent("stage", "awaiting approval");
    await waitForApproval(id);
    const note = await Stepwise.recv<string>("note", 5);
    const sent = await receipt(id);
    return { id, note, sent };
  },
  { name: "order" },
);

const greet = workflow(async (who: string) => `hello ${who}`, { name: "greet" });
const doomed = workflow(
  async () => {
    await step(async () => {
      throw new NonRetryableError("card declined");
    }, { name: "chargeCard" })();
  },
  { name: "doomed" },
);

const dir = tempDir("stepwise-dashboard-");
let browser: Browser;
let base: string;

async function newPage(path: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(15_000);
  await page.goto(`${base}${path}`);
  return page;
}

const statusOf = (page: Page) => page.locator("h1 [data-status]").getAttribute("data-status");

async function waitForStatus(page: Page, status: string): Promise<void> {
  await page.locator(`h1 [data-status="${status}"]`).waitFor();
}

describe("dashboard in a browser", () => {
  beforeAll(async () => {
    browser = await launchBrowser();
    const port = await freePort();
    await Stepwise.launch({ dataDir: dir, logLevel: "silent", dashboard: { port } });
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    for (const release of gates.values()) release();
    await browser?.close();
    await Stepwise.shutdown();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("the list: newest first, filtered by status and name, paged", async () => {
    for (let i = 0; i < 27; i++) await greet(`guest ${i}`);
    await Stepwise.startWorkflow(doomed, { workflowID: "doomed-1" })().then((h) => h.getResult().catch(() => {}));
    await Stepwise.startWorkflow(order, { workflowID: "order-1" })("order-1");

    const page = await newPage("/");
    const rows = page.locator("tbody tr[data-workflow-id]");
    await page.locator('tr[data-workflow-id="order-1"]').waitFor();
    expect(await rows.count()).toBe(25);
    // Newest first: the pending order, then the failed run, then the greetings backwards.
    expect(await rows.nth(0).getAttribute("data-workflow-id")).toBe("order-1");
    expect(await rows.nth(1).getAttribute("data-workflow-id")).toBe("doomed-1");
    await expect(rows.nth(0).locator("[data-status]").getAttribute("data-status")).resolves.toBe("PENDING");
    await expect(rows.nth(1).locator("[data-status]").getAttribute("data-status")).resolves.toBe("ERROR");
    expect(await rows.nth(2).locator("td").nth(1).textContent()).toBe("greet");

    await page.screenshot({ path: fileURLToPath(new URL("list-page.png", artifacts)) });
    // The name filter suggests the workflows that have runs.
    await page.waitForFunction(() => [...document.querySelectorAll("#workflow-names option")].map((o) => (o as HTMLOptionElement).value).join() === "doomed,greet,order");
    await page.getByRole("button", { name: "Older →" }).click();
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-workflow-id]").length === 4);
    expect(page.url()).toContain("page=1");

    await page.locator('select[name="status"]').selectOption("ERROR");
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-workflow-id]").length === 1);
    expect(await rows.first().getAttribute("data-workflow-id")).toBe("doomed-1");

    await page.locator('select[name="status"]').selectOption("");
    await page.locator('input[name="name"]').fill("order");
    // The list polls every 2 s; what is typed must survive the re-render before Enter.
    await page.waitForTimeout(2500);
    expect(await page.locator('input[name="name"]').inputValue()).toBe("order");
    await page.locator('input[name="name"]').press("Enter");
    await page.locator('input[name="name"]').blur();
    await page.waitForFunction(() => document.querySelectorAll("tbody tr[data-workflow-id]").length === 1);
    expect(await rows.first().getAttribute("data-workflow-id")).toBe("order-1");
    expect(page.url()).toContain("name=order");

    // A row links to its run.
    await page.locator('a[href="/workflows/order-1"]').click();
    await page.waitForURL(/\/workflows\/order-1$/);
    await page.locator('[data-step-id="fetchOrder"]').waitFor();
    await page.close();
  });

  test("a run's timeline grows as its steps complete, with retries, messages and events", async () => {
    const page = await newPage("/workflows/order-1");
    await page.locator('[data-step-id="reserveStock"]').waitFor();
    expect(await statusOf(page)).toBe("PENDING");
    await page.locator(".live").waitFor();
    // The retried step is marked with its attempts; the step in flight is a running bar.
    expect(await page.locator('[data-step-id="reserveStock"] .badge.retry').textContent()).toContain("3 attempts");
    await page.locator(".step-row.running .bar-running").waitFor();
    expect(await page.locator('[data-step-id="waitForApproval"]').count()).toBe(0);
    await page.locator(".events td", { hasText: "stage" }).waitFor();
    expect(await page.locator(".events").textContent()).toContain('"awaiting approval"');

    await Stepwise.send("order-1", "leave it at the door", "note");
    await page.locator(".messages tr", { hasText: "waiting" }).waitFor();
    await page.screenshot({ path: fileURLToPath(new URL("run-page-live.png", artifacts)), fullPage: true });

    await open("approve:order-1");
    await page.locator('[data-step-id="waitForApproval"]').waitFor();
    await waitForStatus(page, "SUCCESS");
    expect(await page.locator(".live").count()).toBe(0);
    expect(await page.locator(".messages").textContent()).toContain("received #5");
    expect(await page.locator('[data-step-id="Stepwise.recv"]').count()).toBe(1);

    // Output is behind a click; the child workflow is linked.
    const fetchRow = page.locator('[data-step-id="fetchOrder"]');
    expect(await fetchRow.locator("pre").count()).toBe(0);
    await fetchRow.locator(".step-line").click();
    expect(await fetchRow.locator("pre").textContent()).toContain('Date(2026-11-01T10:00:00.000Z)');
    const childRow = page.locator('[data-step-id="receipt"]');
    await childRow.locator(".step-line").click();
    const childLink = childRow.locator('a[href="/workflows/order-1-6"]');
    await childLink.waitFor();
    expect(await page.locator("section", { hasText: "Result" }).first().textContent()).toContain('"leave it at the door"');
    // Inputs only when asked for.
    expect(await page.locator("body").textContent()).not.toContain('["order-1"]');
    await page.screenshot({ path: fileURLToPath(new URL("run-page.png", artifacts)), fullPage: true });

    await childLink.click();
    await page.waitForURL(/\/workflows\/order-1-6$/);
    await page.locator('[data-step-id="sendReceipt"]').waitFor();
    await page.getByRole("button", { name: "Show inputs" }).click();
    await page.locator("pre", { hasText: '"order-1"' }).waitFor();
    await page.close();
  });

  test("an error run shows its error and the failed step", async () => {
    const page = await newPage("/workflows/doomed-1");
    await waitForStatus(page, "ERROR");
    expect(await page.locator(".error-head").first().textContent()).toContain("NonRetryableError: card declined");
    expect(await page.locator('[data-step-id="chargeCard"] .badge.fail').count()).toBe(1);
    expect(await page.locator('[data-step-id="chargeCard"] .bar.failed').count()).toBe(1);
    await page.close();
  });

  test("cancel, then resume, a running run; each asks first", async () => {
    await Stepwise.startWorkflow(order, { workflowID: "order-2" })("order-2");
    const page = await newPage("/workflows/order-2");
    await page.locator('[data-step-id="reserveStock"]').waitFor();
    await waitForStatus(page, "PENDING");

    // Backing out of the confirmation does nothing.
    await page.getByRole("button", { name: "Cancel…" }).click();
    await page.getByRole("dialog").waitFor();
    await page.getByRole("button", { name: "Back" }).click();
    expect(await page.getByRole("dialog").count()).toBe(0);
    expect((await Stepwise.getWorkflowStatus("order-2"))?.status).toBe("PENDING");

    await page.getByRole("button", { name: "Cancel…" }).click();
    expect(await page.getByRole("dialog").textContent()).toContain("Cancel this run?");
    await page.screenshot({ path: fileURLToPath(new URL("cancel-dialog.png", artifacts)) });
    await page.getByTestId("confirm").click();
    await waitForStatus(page, "CANCELLED");
    expect((await Stepwise.getWorkflowStatus("order-2"))?.status).toBe("CANCELLED");
    expect(await page.getByRole("button", { name: "Cancel…" }).isDisabled()).toBe(true);

    // The step in flight finishes, and the run stops at its next durable operation.
    await open("approve:order-2");
    await expect(Stepwise.retrieveWorkflow("order-2").getResult()).rejects.toThrow(/cancelled/);

    await Stepwise.send("order-2", "ring twice", "note");
    await page.getByRole("button", { name: "Resume…" }).click();
    await page.getByTestId("confirm").click();
    await waitForStatus(page, "SUCCESS");
    expect(await Stepwise.retrieveWorkflow("order-2").getResult()).toEqual({ id: "order-2", note: "ring twice", sent: "receipt for order-2" });
    await page.close();
  });

  test("fork from a step: a new run that keeps what came before it", async () => {
    const page = await newPage("/workflows/order-1");
    await waitForStatus(page, "SUCCESS");
    const childRow = page.locator('[data-step-id="receipt"]');
    await childRow.locator(".step-line").click();
    await childRow.getByRole("button", { name: "Fork from #6…" }).click();
    expect(await page.getByRole("dialog").textContent()).toContain("before function ID 6");
    await page.getByTestId("confirm").click();
    await page.waitForURL((url) => /\/workflows\/[0-9a-f-]{36}$/.test(url.pathname));
    await waitForStatus(page, "SUCCESS");
    const forkID = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
    expect(await Stepwise.retrieveWorkflow(forkID).getResult()).toEqual({ id: "order-1", note: "leave it at the door", sent: "receipt for order-1" });
    // The copied steps keep their records; the child ran again under the fork.
    await page.locator(`a[href="/workflows/${forkID}-6"]`).count();
    expect((await Stepwise.listWorkflowSteps(forkID)).map((s) => s.stepID)).toEqual([
      "fetchOrder",
      "reserveStock",
      "Stepwise.setEvent",
      "waitForApproval",
      "Stepwise.sleep",
      "Stepwise.recv",
      "receipt",
    ]);
    await page.close();
  });
});
