/**
 * The Temporal Web UI, in a real browser, on the real stack (one of the three ways to start a switch):
 * Debian's chromium driven by playwright-core (no browser download) against
 * the dev server's UI, the VIP lab with MySQL replicas, DM and TiDB, and the
 * real worker on task queue `dm-switch`. Everything a person does here goes
 * through the UI, as docs/operating.md describes it:
 *
 *   - start `vipSwitch` from the Start Workflow form, with the demo input
 *     `npm start` prints (plus a `before-switch` gate) and a summary;
 *   - watch the switch's current details change phase by phase (the UI reads
 *     them on opening the User Metadata tab and on the R key), up to the gate;
 *   - approve it with the UI's "Send an Update" (`approve`);
 *   - see "Finished: switched" and Completed, then find the switch in the list
 *     with a search-attribute query.
 *
 * Then it asserts the real end state: the VIP on the new instance, the DM
 * task Running, every row downstream. Screenshots go to test-artifacts/ (not
 * committed); with DM_SWITCH_README_SCREENSHOTS=<dir> (`npm run screenshots`)
 * the two docs/operating.md shows are written there too.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type FrameLocator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { DEFAULT_TASK_QUEUE, switchWorkflowId } from '../../common/switch/ids.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { DbInstance } from '../sandbox/db.js';
import { demoSwitchRequest, startStack, type Stack } from '../sandbox/stack.js';
import { downstreamMatches, startInProcessWorker, taskState, writeUntil } from '../sandbox/switch-harness.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';

const CHROMIUM = process.env.DM_SWITCH_CHROMIUM ?? '/usr/bin/chromium';
const repoRoot = resolve(import.meta.dirname, '../..');
const artifacts = join(repoRoot, 'test-artifacts');
/** `npm run screenshots`: where the docs' two screenshots go (docs/ui-approval.png, docs/ui-list.png). */
const readmeShots = process.env.DM_SWITCH_README_SCREENSHOTS
  ? resolve(repoRoot, process.env.DM_SWITCH_README_SCREENSHOTS)
  : undefined;

/** The iframe the UI renders a workflow's current details in (its summary's has overrideTheme=primary). */
const CURRENT_DETAILS = 'iframe[title="output"][src*="overrideTheme=background"]';
const SUMMARY = 'iframe[title="output"][src*="overrideTheme=primary"]';

let stack: Stack;
let primary: DbInstance;
let b: DbInstance;
let client: Client;
let stopWorker: (() => Promise<void>) | undefined;
let browser: Browser;
let page: Page;
let ui: string;
let request: VipSwitchRequest;
let workflowId: string;
let summary: string;
let handle: WorkflowHandle;
let runId: string;
let writing: Promise<number> | undefined;
/** Every headline (the bold first words: the phase, or the outcome) the UI showed as current details, in order. */
const headlines: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no browser at ${CHROMIUM}: scripts/setup.sh installs Debian's chromium (or set DM_SWITCH_CHROMIUM)`,
    );
  stack = await startStack({ temporal: { ui: true }, mysql: { replicas: 2 }, dm: true, vip: true });
  [primary, , b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ui = stack.temporal!.uiUrl!;
  // the switch docs/operating.md walks through: npm start's demo input, with a gate so there is something to approve
  request = { ...demoSwitchRequest(stack), approvals: { gates: ['before-switch'] } };
  workflowId = switchWorkflowId('default', request.sourceId);
  summary = `VIP switch of DM source ${request.sourceId} to ${request.newInstance!.host}:3306, from the Web UI`;
  await writeRows(primary, 10);
  await Promise.all(stack.topology!.replicas.map((r) => waitCaughtUp(r, primary)));
  await downstreamMatches(primary, stack.downstream!);
  ({ client, stop: stopWorker } = await startInProcessWorker(
    stack.temporal!.address,
    stack.workerConfigYaml(DEFAULT_TASK_QUEUE),
  ));
  await mkdir(artifacts, { recursive: true });
  if (readmeShots) await mkdir(readmeShots, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // the UI's first page (its bundle, then the API) can take over 30 s while three stack files run at once
  page.setDefaultTimeout(90_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await writing?.catch(() => undefined);
  await stopWorker?.();
  await stack?.stop();
});

/** A screenshot in test-artifacts/, and in the docs' directory under `readme` when asked for. */
async function shot(name: string, readme?: string): Promise<void> {
  const path = join(artifacts, `web-ui-${name}.png`);
  await page.screenshot({ path });
  if (readme && readmeShots) await copyFile(path, join(readmeShots, readme));
}

/** On a failing step, what the browser showed. */
function shotOnFailure(name: string): void {
  onTestFailed(async () => {
    await page?.screenshot({ path: join(artifacts, `web-ui-failed-${name}.png`) }).catch(() => undefined);
  });
}

/** Leaves the CodeMirror editor (the UI re-formats the JSON then, which moves the form: a click during that is lost). */
async function blur(): Promise<void> {
  await page.evaluate('document.activeElement?.blur()');
}

/** The current-details frame: the newest (the UI replaces the frame when the details change). */
const detailsFrame = (): FrameLocator => page.locator(CURRENT_DETAILS).last().contentFrame();

/** What the UI shows as current details now: the headline and the whole text; null while the frame (re)loads. */
async function currentDetails(): Promise<{ headline: string; text: string } | null> {
  try {
    const main = detailsFrame().locator('main');
    const text = await main.innerText({ timeout: 3000 });
    const headline = await main.locator('strong').first().innerText({ timeout: 1000 });
    return { headline, text };
  } catch {
    return null;
  }
}

/**
 * Reads the current details as a person does, pressing R ("for freshness")
 * between readings, until `done` holds; records every headline seen.
 */
async function watchDetails(
  done: (d: { headline: string; text: string }) => boolean,
  timeoutMs: number,
): Promise<{ headline: string; text: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: { headline: string; text: string } | null = null;
  for (;;) {
    const d = await currentDetails();
    if (d) {
      last = d;
      if (headlines.at(-1) !== d.headline) headlines.push(d.headline);
      if (done(d)) return d;
    }
    if (Date.now() > deadline)
      throw new Error(
        `the UI's current details never got there within ${timeoutMs / 1000} s; headlines seen: ${JSON.stringify(headlines)}; last: ${JSON.stringify(last?.text)}`,
      );
    await page.keyboard.press('r');
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Runs in the details frame: the bottom of its last line of text and its
 * widest line, against the size of the frame the UI made for it. (This
 * project compiles without the DOM library, hence `any`.)
 */
function measureText(body: any): { textBottom: number; shownHeight: number; scrollWidth: number; shownWidth: number } {
  const doc = body.ownerDocument;
  const SHOW_TEXT = 4;
  let textBottom = 0;
  const walk = doc.createTreeWalker(body, SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (!n.textContent?.trim()) continue;
    const range = doc.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) textBottom = Math.max(textBottom, r.bottom);
  }
  return {
    textBottom: Math.ceil(textBottom),
    shownHeight: doc.documentElement.clientHeight,
    scrollWidth: doc.documentElement.scrollWidth,
    shownWidth: doc.documentElement.clientWidth,
  };
}

describe('the Temporal Web UI on the real stack', { timeout: 150_000 }, () => {
  it("given the Start Workflow form with the documented input and a summary, should start vipSwitch under the source's workflow ID", async () => {
    shotOnFailure('start');
    await page.goto(`${ui}/namespaces/default/workflows`, { waitUntil: 'domcontentloaded' });
    await page.locator('a[href*="/start-workflow"]').filter({ visible: true }).click();
    await page.locator('#workflowId').fill(workflowId);
    await page.locator('#taskQueue').fill(DEFAULT_TASK_QUEUE);
    await page.locator('#workflowType').fill('vipSwitch');
    // the UI looks the task queue up: our worker polls it
    await page.getByText('Task Queue is Active').waitFor({ timeout: 30_000 });
    // Input → Data: the one-line JSON, as `npm start` prints it
    await page.locator('.cm-content').first().click();
    await page.keyboard.insertText(JSON.stringify(request));
    await blur();
    await page.getByRole('button', { name: 'More options' }).click();
    // User Metadata → Summary (the second editor; the third is Details)
    const summaryEditor = page.locator('.cm-content').nth(1);
    await summaryEditor.waitFor({ timeout: 10_000 });
    await summaryEditor.click();
    await page.keyboard.insertText(summary);
    await blur();
    await shot('1-start-form');
    const started = page.waitForResponse(
      (r) => r.request().method() === 'POST' && r.url().includes(`/workflows/${encodeURIComponent(workflowId)}`),
      { timeout: 30_000 },
    );
    await page.getByTestId('start-workflow-button').filter({ visible: true }).click();
    expect((await started).status()).toBe(200);
    const toast = page.getByText('Workflow started successfully');
    await toast.waitFor({ timeout: 15_000 });

    // what the server got from the form: our JSON exactly, the type, the queue, the summary
    handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    runId = description.runId;
    handle = client.workflow.getHandle(workflowId, runId);
    expect(description.type).toBe('vipSwitch');
    expect(description.taskQueue).toBe(DEFAULT_TASK_QUEUE);
    expect(await description.staticSummary()).toBe(summary);
    const { events } = await handle.fetchHistory();
    const input = events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(JSON.parse(Buffer.from(input.data!).toString('utf8'))).toEqual(request);
    // the application keeps writing through the switch (verification then sees DM's position move at once)
    writing = writeUntil(
      handle.result().catch(() => undefined),
      () => writeRows(primary, 1),
    );
    // the toast links to the workflow
    await toast.click();
    await page.waitForURL((u) => u.pathname.includes(`/workflows/${encodeURIComponent(workflowId)}`), {
      timeout: 15_000,
    });
  });

  it('should show the summary, and the current details phase by phase up to the approval gate, all of them visible', async () => {
    shotOnFailure('gate');
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    await expect
      .poll(() => page.locator(SUMMARY).contentFrame().locator('main').innerText(), { timeout: 30_000 })
      .toBe(summary);
    const atGate = await watchDetails((d) => d.text.includes('Approval needed at gate before-switch'), 120_000);
    expect(atGate.headline).toBe('Waiting for approval');
    expect(atGate.text).toContain(`source ${request.sourceId} (DM cluster default)`);
    expect(atGate.text).toContain(
      `move the VIP ${request.vip.address} from ${request.oldInstance!.host} to ${request.newInstance!.host}`,
    );
    expect(atGate.text).toMatch(/DM frozen since \S+: replication of this source waits/);
    // the GTID sets the approval rests on are a list, an item each
    const items = await detailsFrame().locator('main li').allInnerTexts();
    expect(items.map((i) => i.replace(/:.*/s, ''))).toEqual([
      'gtid-P new instance (frozen)',
      'gtid-E new instance (frozen)',
      'gtid-S task app-to-downstream (frozen)',
    ]);
    // nothing is cut off: the last line of text lies inside the frame the UI sized, and no line is wider than it
    const fit = await detailsFrame().locator('body').evaluate(measureText);
    expect(fit.textBottom, JSON.stringify(fit)).toBeLessThanOrEqual(fit.shownHeight);
    expect(fit.scrollWidth, JSON.stringify(fit)).toBeLessThanOrEqual(fit.shownWidth);
    // the start's toast goes by itself; not in the picture
    await page
      .getByText('Workflow started successfully')
      .waitFor({ state: 'hidden', timeout: 20_000 })
      .catch(() => undefined);
    await shot('2-awaiting-approval', 'ui-approval.png');
    // the status query agrees: the gate is pending
    const s = await handle.query(statusQuery);
    expect(s.phase).toBe('awaiting-approval');
    expect(s.approvals).toEqual([expect.objectContaining({ gate: 'before-switch', state: 'pending' })]);
  });

  it("given an approval sent with the UI's Send an Update, should carry on and show the outcome: Finished: switched, Completed", async () => {
    shotOnFailure('approve');
    await page.getByRole('button', { name: 'More Actions' }).click();
    await page.getByTestId('update-button').filter({ visible: true }).click();
    const dialog = page.getByRole('dialog').filter({ visible: true });
    await dialog.getByTestId('update-select-button').click();
    // the UI lists the workflow's updates with their descriptions
    await dialog.getByRole('option', { name: /^approve/ }).click();
    await dialog.locator('.cm-content').click();
    await page.keyboard.insertText(JSON.stringify({ gate: 'before-switch', by: 'ui-test' }));
    await blur();
    await shot('3-approve-update');
    const answered = page.waitForResponse((r) => r.url().includes('/update/approve'), { timeout: 30_000 });
    await dialog.getByTestId('confirm-modal-button').click();
    expect((await answered).status()).toBe(200);

    const finished = await watchDetails((d) => d.headline.startsWith('Finished'), 120_000);
    expect(finished.headline).toBe('Finished: switched');
    expect(finished.text).toContain('Tasks: app-to-downstream Running');
    expect(finished.text).not.toContain('Approval needed');
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 30_000 });
    await shot('4-finished');
    // phase by phase: the gate, at least one step of the switch, and its end, in that order
    console.log(`current details headlines seen in the UI: ${headlines.join(' → ')}`);
    const gate = headlines.indexOf('Waiting for approval');
    expect(gate).toBeGreaterThanOrEqual(0);
    expect(headlines.at(-1)).toBe('Finished: switched');
    expect(new Set(headlines).size).toBeGreaterThanOrEqual(3);

    // the approval is the UI's: by ui-test, through the update
    const s = await handle.query(statusQuery);
    expect(s.outcome).toBe('switched');
    expect(s.approvals).toEqual([
      expect.objectContaining({ gate: 'before-switch', state: 'approved', by: 'ui-test', via: 'update' }),
    ]);
  });

  it('should find the switch in the workflow list by its search attributes', async () => {
    shotOnFailure('list');
    await page.getByRole('link', { name: 'Back to Workflows' }).click();
    await page.getByTestId('toggle-manual-query').click();
    const search = async (query: string) => {
      await page.getByTestId('manual-search-input').fill(query);
      await page.getByTestId('manual-search-button').click();
      await page.waitForURL((u) => u.searchParams.get('query') === query, { timeout: 15_000 });
    };
    const rows = page.locator('table tbody tr').filter({ hasText: workflowId });
    // a query the switch does not match lists nothing…
    await search(`DmSwitchSource = "${request.sourceId}" AND DmSwitchOutcome = "rolled-back"`);
    await page.getByText(/^0 Workflows$/).waitFor({ timeout: 30_000 });
    expect(await rows.count()).toBe(0);
    // …the one it matches lists it (visibility is eventually consistent: search again until it shows)
    const query = `DmSwitchSource = "${request.sourceId}" AND DmSwitchOutcome = "switched"`;
    await expect
      .poll(
        async () => {
          await search(query);
          await rows
            .first()
            .waitFor({ timeout: 3000 })
            .catch(() => undefined);
          return rows.count();
        },
        { timeout: 30_000, interval: 500 },
      )
      .toBe(1);
    const row = await rows.first().innerText();
    expect(row).toContain('Completed');
    expect(row).toContain(runId);
    expect(row).toContain('vipSwitch');
    await shot('5-list-by-search-attributes', 'ui-list.png');
  });

  it('should leave the real stack switched: the VIP on the new instance, the DM task Running, every row downstream', async () => {
    expect(await writing).toBeGreaterThan(0);
    expect(await stack.vipLab!.provider().locate(stack.vipLab!.vip, [])).toBe(b.host);
    expect(await taskState(stack.dm!, request.sourceId, stack.taskName!)).toEqual({ stage: 'Running', unit: 'Sync' });
    await writeRows(primary, 10);
    await downstreamMatches(primary, stack.downstream!, 90_000);
  });
});
