/**
 * Replays saved histories of real workflow runs against the current workflow
 * code: a change that would make running switches non-deterministic fails
 * here, before it reaches a worker with switches in flight.
 *
 * Histories are refreshed with: DM_SWITCH_SAVE_HISTORIES=1 npx vitest run test/workflow/vip-switch.test.ts test/workflow/approvals.test.ts
 * (the VIP switch, scripted activities) and test/integration/address-switch-e2e.test.ts
 * (the address switch on the real stack), candidates-e2e (a switch choosing its target) and
 * drain-e2e (a drain that joined a switch through a worker kill, and a return)
 * (only when a change is meant to be incompatible, with a versioning plan).
 */
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, inject } from 'vitest';
import { workerTracing } from '../../worker/tracing.js';
import { workflowInterceptorModules, workflowsPath } from '../../worker/workflows-path.js';

const dir = join(import.meta.dirname, '../fixtures/histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

// one replay worker (and one bundle of the workflow code) for every history, the fast tier's bundle when there is
// one: creating a worker loads the bundle, seconds each on a busy machine. It replays them one after the other.
const outcomes: Array<{ file: string; error?: Error }> = [];
beforeAll(async () => {
  // the bundle production runs: the workflows with their interceptors (the fast tier's, built the same way)
  const workflowBundle =
    inject('scriptedTemporal')?.bundle ?? (await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }));
  const histories = files.map((file) => {
    type Saved = { events: Array<{ workflowExecutionStartedEventAttributes?: { workflowId?: string } }> };
    const json = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Saved;
    // replay under the workflow ID the switch ran under: the workflow checks it (one switch per source)
    const workflowId = json.events[0]?.workflowExecutionStartedEventAttributes?.workflowId ?? file;
    return { workflowId, history: historyFromJSON(json) };
  });
  let i = 0;
  const { sinks } = workerTracing(undefined);
  const results = Worker.runReplayHistories({ workflowBundle, replayName: 'saved histories', sinks }, histories);
  for await (const r of results) outcomes.push({ file: files[i++]!, error: r.error });
}, 300_000);

describe('replay of saved histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(outcomes.map((o) => o.file)).toEqual(files);
  });

  it.each(files)('given %s, should replay without non-determinism', (file) => {
    expect(outcomes.find((o) => o.file === file)?.error).toBeUndefined();
  });
});
