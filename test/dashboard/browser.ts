/**
 * Headless Chromium for the dashboard's end-to-end tests: Debian's /usr/bin/chromium
 * (installed by .ci/run), driven by playwright-core. Never a downloaded browser.
 */
import fs from "node:fs";
import net from "node:net";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.STEPWISE_TEST_CHROMIUM || "/usr/bin/chromium";

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `The dashboard's browser tests need Chromium at ${CHROMIUM}, and it is missing. ` +
        `Install Debian's package: apt-get install -y chromium (.ci/run does this).`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    // Without these, Chromium keeps dialling Google's hosts, which this network refuses.
    args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const artifacts = new URL("../.artifacts/", import.meta.url);
