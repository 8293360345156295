// Browser tests of the composer against a running suite (started by
// tests/integration/test_web_composer.py): Debian's Chromium driven by playwright-core.
// Env: HELICASE_WEB_URL (the api's HTTP port), HELICASE_TOKEN (the key to sign in with),
// SCREENSHOT_DIR (where the PNGs go).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { rpc as call, signIn, withBrowser } from "./browser.mjs";

const BASE = process.env.HELICASE_WEB_URL;
const TOKEN = process.env.HELICASE_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR;
assert.ok(BASE, "HELICASE_WEB_URL is required");
assert.ok(TOKEN, "HELICASE_TOKEN is required");

/** A Connect unary call, for checks behind the page's back. */
const rpc = (method, body) => call(BASE, TOKEN, method, body);

async function shot(page, name) {
  if (!SHOTS) return;
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, name) });
}

const canvas = (page) => page.locator(".composer .canvas");
// The composer stays mounted (hidden) on the other pages: look only at the visible page.
const node = (page, id) => page.locator(`.page:not([hidden]) .react-flow__node:has([data-task-id="${id}"])`);

async function dragType(page, type, x, y) {
  await page.locator(`.palette-item[data-type="${type}"]`).dragTo(canvas(page), { targetPosition: { x, y } });
}

async function connect(page, from, to) {
  const src = await node(page, from).locator(".react-flow__handle.source").boundingBox();
  const dst = await node(page, to).locator(".react-flow__handle.target").boundingBox();
  await page.mouse.move(src.x + src.width / 2, src.y + src.height / 2);
  await page.mouse.down();
  await page.mouse.move(dst.x + dst.width / 2, dst.y + dst.height / 2, { steps: 12 });
  await page.mouse.up();
}

async function deployAndWait(page, final) {
  await page.getByRole("button", { name: "Deploy" }).click();
  await page.waitForURL(/\/workflows\/[0-9a-f-]{36}$/, { timeout: 15000 });
  const id = page.url().split("/").pop();
  await page.locator(`[data-testid="workflow-state"]:text-is("${final}")`).waitFor({ timeout: 90000 });
  return id;
}

async function expectCount(locator, n, what) {
  for (let i = 0; i < 50 && (await locator.count()) !== n; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await locator.count(), n, what);
}

async function nodeStates(page) {
  return page.locator(".live .task-node").evaluateAll((els) => els.map((e) => [e.dataset.taskId, e.dataset.state]));
}

async function importJson(page, body) {
  await page.getByRole("button", { name: "Import JSON" }).click();
  await page.locator("#workflow-json").fill(JSON.stringify(body));
  await page.getByRole("button", { name: "Import", exact: true }).click();
}

async function goComposer(page) {
  await page.getByRole("link", { name: "Composer" }).click();
  await canvas(page).waitFor();
}

const scenarios = {
  async "three-node DAG drawn by drag and connect runs to COMPLETED"(page) {
    await dragType(page, "noop", 380, 70);
    await dragType(page, "shell", 380, 230);
    await page.locator("#param-command").fill("echo composed");
    await dragType(page, "sleep", 380, 390);
    await page.locator("#param-seconds").fill("0.2");
    await connect(page, "noop", "shell");
    await connect(page, "shell", "sleep");
    await expectCount(page.locator(".composer .react-flow__edge"), 2, "two dependency edges");
    await page.locator(".problem-count:text('no problems')").waitFor();
    await page.locator("#wf-name").count(); // nothing selected shows workflow settings
    await shot(page, "composer.png");
    const id = await deployAndWait(page, "COMPLETED");
    assert.deepEqual(
      (await nodeStates(page)).sort(),
      [["noop", "COMPLETED"], ["shell", "COMPLETED"], ["sleep", "COMPLETED"]],
    );
    await node(page, "shell").click();
    await page.locator(".drawer .attempts-table tbody tr").first().waitFor();
    await shot(page, "live-view.png");
    const wf = (await rpc("WorkflowService/GetWorkflow", { id })).workflow;
    assert.deepEqual(wf.tasks.map((t) => [t.id, t.dependsOn ?? []]), [["noop", []], ["shell", ["noop"]], ["sleep", ["shell"]]]);
    assert.equal(wf.tasks[1].params.command, "echo composed");
  },

  async "a cycle and a missing required param are refused before deploy"(page) {
    await goComposer(page);
    const before = (await rpc("WorkflowService/ListWorkflows", {})).workflows?.length ?? 0;
    await connect(page, "sleep", "noop");
    await expectCount(page.locator(".composer .react-flow__edge"), 3, "the edge closing the cycle");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.locator(".banner.error:has-text('Cannot deploy')").waitFor();
    await node(page, "noop").locator(".task-node-problem:has-text('cycle')").waitFor();
    await shot(page, "composer-problems.png");
    // Ctrl+Z takes the cycle back.
    await page.locator(".react-flow__pane").click({ position: { x: 20, y: 20 } });
    await page.keyboard.press("Control+z");
    await expectCount(page.locator(".composer .react-flow__edge"), 2, "undo removed the cycle");
    await page.locator(".problem-count:text('no problems')").waitFor();
    // Empty the shell's command.
    await node(page, "shell").click();
    await page.locator("#param-command").fill("");
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.locator(".banner.error:has-text('Cannot deploy')").waitFor();
    await node(page, "shell").locator(".task-node-problem:has-text(\"'command' is a required property\")").waitFor();
    assert.equal(new URL(page.url()).pathname, "/");
    await page.locator("#param-command").fill("echo composed");
    await page.locator(".problem-count:text('no problems')").waitFor();
    const after = (await rpc("WorkflowService/ListWorkflows", {})).workflows?.length ?? 0;
    assert.equal(after, before, "nothing was deployed");
    // Keyboard: Delete removes the selected task (and its edges), Ctrl+Z brings both back.
    await node(page, "sleep").click();
    await page.keyboard.press("Delete");
    await expectCount(page.locator(".composer .task-node"), 2, "Delete removed the task");
    await expectCount(page.locator(".composer .react-flow__edge"), 1, "and its edge");
    await page.keyboard.press("Control+z");
    await expectCount(page.locator(".composer .task-node"), 3, "undo restored the task");
    await expectCount(page.locator(".composer .react-flow__edge"), 2, "and its edge");
  },

  async "a refusal only the server sees is shown on the offending task"(page) {
    await importJson(page, {
      workflow: { displayName: "too-big", tasks: [
        { id: "small", type: "noop" },
        { id: "big", type: "shell", dependsOn: ["small"], params: { command: "x".repeat(70000) } },
      ] },
    });
    await node(page, "big").waitFor();
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.locator(".banner.error:has-text('The server refused')").waitFor();
    await node(page, "big").locator(".task-node-problem:has-text('the limit is')").waitFor();
    assert.equal(await node(page, "small").locator(".task-node-problem").count(), 0);
    assert.equal(new URL(page.url()).pathname, "/");
  },

  async "a running workflow is cancelled from the live view"(page) {
    await importJson(page, { workflow: { displayName: "e2e-cancel", tasks: [
      { id: "long", type: "sleep", params: { seconds: 120 } },
    ] } });
    await node(page, "long").waitFor();
    await page.getByRole("button", { name: "Deploy" }).click();
    await page.waitForURL(/\/workflows\/[0-9a-f-]{36}$/);
    await page.locator('.live .task-node[data-state="RUNNING"]').waitFor({ timeout: 60000 });
    await page.getByRole("button", { name: "Cancel workflow" }).click();
    await page.locator('[data-testid="workflow-state"]:text-is("CANCELED")').waitFor({ timeout: 60000 });
    assert.deepEqual(await nodeStates(page), [["long", "CANCELED"]]);
  },

  async "a failing shell task shows FAILED with its attempts"(page) {
    await goComposer(page);
    await importJson(page, {
      workflow: {
        displayName: "e2e-fail",
        labels: { suite: "e2e" },
        tasks: [{ id: "boom", type: "shell", params: { command: "echo oops >&2; exit 2" },
                  retry: { maxAttempts: 2, initialBackoff: "0.2s" } }],
      },
    });
    await node(page, "boom").waitFor();
    await deployAndWait(page, "FAILED");
    assert.deepEqual(await nodeStates(page), [["boom", "FAILED"]]);
    await node(page, "boom").click();
    const rows = page.locator(".drawer .attempts-table tbody tr");
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2, "two attempts");
    assert.match(await rows.nth(0).innerText(), /FAILED/);
    assert.match(await page.locator(".drawer").innerText(), /attempt|Attempt/);
    await shot(page, "live-failed.png");
    // The workflows page lists it under its state and label.
    await page.getByRole("link", { name: "Workflows" }).click();
    await page.locator(".workflow-table a:text('e2e-fail')").waitFor();
    const listed = page.locator(".workflow-table tbody a");
    const states = async () => [...new Set(await page.locator(".workflow-table tbody .badge").allInnerTexts())].sort();
    assert.deepEqual(await states(), ["CANCELED", "COMPLETED", "FAILED"]);
    await page.locator("#filter-state").selectOption("COMPLETED");
    await expectCount(listed, 1, "one COMPLETED workflow");
    assert.deepEqual(await states(), ["COMPLETED"]);
    await page.locator("#filter-state").selectOption("");
    await page.locator("#filter-labels").fill("suite=e2e");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.locator(".workflow-table a:text('e2e-fail')").waitFor();
    await expectCount(listed, 1, "one workflow labelled suite=e2e");
    assert.equal(await page.locator(".workflows [role=alert]").count(), 0, "no error shown");
    await shot(page, "workflows.png");
    // Opening one shows its live graph.
    await page.locator(".workflow-table a:text('e2e-fail')").click();
    await page.locator('[data-testid="workflow-state"]:text-is("FAILED")').waitFor();
    assert.deepEqual(await nodeStates(page), [["boom", "FAILED"]]);
  },

  async "a template saved, reloaded and deployed gives the same workflow"(page) {
    await goComposer(page);
    const name = `e2e-${Date.now()}`;
    await importJson(page, {
      workflow: {
        displayName: "from-template",
        tasks: [
          { id: "prep", type: "shell", params: { command: "echo prep" } },
          { id: "wait", type: "sleep", dependsOn: ["prep"], params: { seconds: 0.1 } },
          { id: "done", type: "noop", dependsOn: ["prep", "wait"] },
        ],
      },
    });
    await page.locator("#tpl-name").fill(name);
    await page.locator("#tpl-description").fill("saved by the browser test");
    await page.getByRole("button", { name: "Save as new" }).click();
    await page.locator(`.templates .status:has-text("Saved template")`).waitFor();
    await page.getByRole("button", { name: "Clear" }).click();
    assert.equal(await page.locator(".composer .task-node").count(), 0);
    await page.getByRole("button", { name: `Load template ${name}` }).click();
    await node(page, "done").waitFor();
    assert.equal(await page.locator(".composer .task-node").count(), 3);
    // Update the loaded template (a new description), then deploy it.
    await page.locator("#tpl-description").fill("saved and updated by the browser test");
    await page.getByRole("button", { name: "Update", exact: true }).click();
    await page.locator(`.templates .status:has-text("Updated template")`).waitFor();
    const id = await deployAndWait(page, "COMPLETED");
    const listed = (await rpc("TemplateService/ListTemplates", { pageSize: 500 })).templates;
    const template = listed.find((t) => t.name === name);
    const wf = (await rpc("WorkflowService/GetWorkflow", { id })).workflow;
    const definition = (tasks) => tasks.map((t) => ({ id: t.id, type: t.type, group: t.instanceGroup,
      deps: t.dependsOn ?? [], params: t.params ?? {} }));
    assert.deepEqual(definition(wf.tasks), definition(template.workflow.tasks));
    assert.equal(wf.displayName, template.workflow.displayName);
    assert.equal(template.description, "saved and updated by the browser test");
    // Delete it (after the confirmation dialog).
    await goComposer(page);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: `Delete template ${name}` }).click();
    await page.locator(`.templates .status:has-text("Deleted template")`).waitFor();
    const left = (await rpc("TemplateService/ListTemplates", {})).templates ?? [];
    assert.ok(!left.some((t) => t.name === name), "template deleted");
  },
};

let failed = 0;
const cspViolations = [];
await withBrowser(async (context) => {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20000);
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  page.on("console", (msg) => {
    if (msg.type() !== "error") return;
    console.error(`console: ${msg.text()}`);
    if (msg.text().includes("Content Security Policy")) cspViolations.push(msg.text());
  });
  await page.goto(BASE);
  await signIn(page, TOKEN);
  await page.locator('.palette-item[data-type="shell"]').waitFor();
  for (const [name, run] of Object.entries(scenarios)) {
    const started = Date.now();
    try {
      await run(page);
      console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    } catch (err) {
      failed++;
      console.log(`FAIL ${name}: ${err.stack ?? err}`);
      await shot(page, `failure-${Object.keys(scenarios).indexOf(name)}.png`).catch(() => {});
      break; // the scenarios build on each other
    }
  }
});
if (cspViolations.length) {
  failed++;
  console.log(`FAIL the composer works under the api's Content-Security-Policy: ${cspViolations.length} violations`);
}
process.exit(failed ? 1 : 0);
