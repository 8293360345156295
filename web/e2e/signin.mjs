// Browser tests of the composer's sign-in against a running suite (started by
// tests/integration/trust/test_web.py), one scenario per run: `node signin.mjs <scenario>`.
// Env: HELICASE_WEB_URL (the api's HTTP port), HELICASE_TOKEN (a key to sign in with),
// SCREENSHOT_DIR (where the sign-in page's PNG goes, if set).
// It prints `cookie <value>` once signed in (the test checks what the server stored), and in
// the "revoked" scenario prints `revoke` and waits for a line on stdin (the key was revoked).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { call, SESSION_COOKIE, signIn, withBrowser } from "./browser.mjs";

const BASE = process.env.HELICASE_WEB_URL;
const TOKEN = process.env.HELICASE_TOKEN;
assert.ok(BASE && TOKEN, "HELICASE_WEB_URL and HELICASE_TOKEN are required");

const signInForm = (page) => page.getByRole("form", { name: "Sign in" });
const composer = (page) => page.locator('.palette-item[data-type="noop"]');

async function sessionCookie(context) {
  return (await context.cookies(BASE)).find((c) => c.name === SESSION_COOKIE);
}

async function signedIn(page, context) {
  await page.goto(BASE);
  await signInForm(page).waitFor();
  await signIn(page, TOKEN);
  await composer(page).waitFor();
  const cookie = await sessionCookie(context);
  assert.ok(cookie, "a session cookie is set");
  console.log(`cookie ${cookie.value}`);
  return cookie;
}

/** A call made with a cookie alone, as another tab (or a stolen cookie) would make it. */
async function callWithCookie(value) {
  return call(BASE, "TaskTypeService/ListTaskTypes", {}, { Cookie: `${SESSION_COOKIE}=${value}`, Origin: BASE });
}

async function nextLine() {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return line;
  }
  throw new Error("stdin closed");
}

const scenarios = {
  async refused(page, context) {
    await page.goto(BASE);
    await signInForm(page).waitFor();
    await signIn(page, "hlc_this-key-was-never-issued");
    await page.getByRole("alert").filter({ hasText: "The API key was refused" }).waitFor();
    if (process.env.SCREENSHOT_DIR) {
      mkdirSync(process.env.SCREENSHOT_DIR, { recursive: true });
      await page.screenshot({ path: join(process.env.SCREENSHOT_DIR, "sign-in-refused.png") });
    }
    assert.equal(await composer(page).count(), 0, "the composer stays hidden");
    assert.equal(await sessionCookie(context), undefined, "no session cookie");
  },

  async "sign-in-out"(page, context) {
    const cookie = await signedIn(page, context);
    assert.equal(cookie.httpOnly, true, "HttpOnly");
    assert.equal(cookie.sameSite, "Strict", "SameSite=Strict");
    assert.equal(cookie.path, "/");
    assert.equal(await page.evaluate(() => document.cookie), "", "the page's scripts cannot read it");
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    assert.ok(!stored.includes(TOKEN), "the key is in no browser storage");
    const [status] = await callWithCookie(cookie.value);
    assert.equal(status, 200, "the cookie authenticates a call");
    await page.reload();
    await composer(page).waitFor(); // the session outlives the page
    await page.getByRole("button", { name: "Sign out" }).click();
    await signInForm(page).waitFor();
    assert.equal(await sessionCookie(context), undefined, "sign-out removed the cookie");
    const [after, body] = await callWithCookie(cookie.value);
    assert.equal(after, 401, `the old cookie is refused: ${JSON.stringify(body)}`);
    assert.equal(body.code, "unauthenticated");
    await page.reload();
    await signInForm(page).waitFor();
  },

  async revoked(page, context) {
    const cookie = await signedIn(page, context);
    console.log("revoke");
    await nextLine();
    // The next calls (each page loads something) are refused; the composer goes to sign-in.
    const deadline = Date.now() + 30000;
    while (!(await signInForm(page).isVisible())) {
      assert.ok(Date.now() < deadline, "the revoked key's session ended within 30 s");
      const link = (await page.getByRole("link", { name: "Workflows" }).getAttribute("aria-current")) ? "Composer" : "Workflows";
      await page.getByRole("link", { name: link }).click().catch(() => {});
      await page.waitForTimeout(500);
    }
    const [status] = await callWithCookie(cookie.value);
    assert.equal(status, 401, "the session is over");
    assert.equal(await sessionCookie(context), undefined, "the api removed the cookie");
  },
};

const name = process.argv[2];
assert.ok(name in scenarios, `scenario: one of ${Object.keys(scenarios).join(", ")}`);
await withBrowser(async (context) => {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  await scenarios[name](page, context);
});
console.log(`ok   ${name}`);
