// What the browser tests share: Debian's Chromium through playwright-core, sign-in through the
// composer's own page, and Connect calls behind the page's back with a bearer token.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync",
];
export const SESSION_COOKIE = "helicase_session";

/** Runs `body(context)` in a fresh headless Chromium profile, closed whatever happens. */
export async function withBrowser(body) {
  const userData = mkdtempSync(join(tmpdir(), "helicase-chromium-"));
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 800 },
  });
  try {
    return await body(context);
  } finally {
    await context.close();
    rmSync(userData, { recursive: true, force: true });
  }
}

/** Signs in on the composer's sign-in page with `key`. */
export async function signIn(page, key) {
  await page.locator("#api-key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A Connect unary call: [HTTP status, JSON body]. */
export async function call(base, method, body, headers = {}) {
  const res = await fetch(`${base}/helicase.v1.${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return [res.status, await res.json()];
}

/** A Connect unary call with `token`, which must succeed. */
export async function rpc(base, token, method, body) {
  const [status, json] = await call(base, method, body, { Authorization: `Bearer ${token}` });
  assert.equal(status, 200, `${method}: ${JSON.stringify(json)}`);
  return json;
}
