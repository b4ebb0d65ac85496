/**
 * Readiness drills on the real stack: MySQL 9.7 hosts behind a real VIP that DM reads through (on A), TiDB
 * downstream, the Temporal dev server and the real worker. The schedule is created by the CLI as an operator runs
 * it, a drill is triggered at once, and `dm-switch readiness` prints the table. A drill must change nothing: task
 * stages and DM's positions (query-status) are the same before and after, and no binlog dump connection appears
 * on a candidate (DM reads only A).
 */
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { switchWorkflowId } from '../../common/switch/ids.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import type { DrillInput, ReadinessReport } from '../../common/switch/readiness.js';
import type { LatestReadiness } from '../../client/readiness.js';
import type { DbInstance } from '../sandbox/db.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { binlogDumps, saveHistory, startSwitch, waitForStatus } from '../sandbox/switch-harness.js';
import { startVipSwitchStack, type VipSwitchStack } from '../sandbox/vip-switch-stack.js';

const QUEUE = 'e2e-readiness';
let s: VipSwitchStack;
let dir: string;

beforeAll(async () => {
  s = await startVipSwitchStack(QUEUE);
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-readiness-'));
}, 300_000);

afterAll(async () => {
  await s?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const at = (db: DbInstance) => `${db.host}:3306`;

/** The dm-switch command as an operator runs it (bin/dm-switch.js), against this stack's Temporal. */
const cli = (args: string[]) =>
  execa(process.execPath, [join(import.meta.dirname, '../../bin/dm-switch.js'), '--task-queue', QUEUE, ...args], {
    reject: false,
    env: { TEMPORAL_ADDRESS: s.stack.temporal!.address, TEMPORAL_NAMESPACE: 'default' },
    stdin: 'ignore',
  });

/** What a drill must leave as it found: each subtask's stage, unit and positions, relay's too. */
async function dmState(): Promise<unknown> {
  const r = expectOk('query-status', await s.dm.ctl(['query-status', '-s', s.sourceId]));
  const src = (r.sources as Array<Record<string, unknown>>)[0]!;
  const subs = (src.subTaskStatus ?? []) as Array<{ name: string; stage: string; unit: string; sync?: unknown }>;
  return subs.map((x) => {
    const sync = (x.sync ?? {}) as Record<string, unknown>;
    return {
      name: x.name,
      stage: x.stage,
      unit: x.unit,
      syncerBinlog: sync.syncerBinlog,
      syncerBinlogGtid: sync.syncerBinlogGtid,
      masterBinlogGtid: sync.masterBinlogGtid,
    };
  });
}

/**
 * DM's state once it has replicated and flushed everything the primary has (DM writes its checkpoint every 30 s):
 * from then on, with no writes, only a change of DM's own could move it.
 */
async function settledDmState(): Promise<unknown> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const want = await s.primary.variable('gtid_executed');
    const state = (await dmState()) as Array<{ syncerBinlogGtid?: unknown; masterBinlogGtid?: unknown }>;
    if (state.every((x) => x.syncerBinlogGtid === want && x.masterBinlogGtid === want)) return state;
    if (Date.now() > deadline) throw new Error(`DM did not settle at ${want}: ${JSON.stringify(state)}`);
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

async function dumps(): Promise<number[]> {
  return Promise.all([s.primary, s.a, s.b].map((db) => binlogDumps(db)));
}

/** Schedules the drill through the CLI (with --now) and waits for the table of a drill that finished after `since`. */
async function drill(since: number): Promise<{ latest: LatestReadiness; text: string; code: number }> {
  const input: DrillInput = {
    dmCluster: 'default',
    sources: [
      {
        kind: 'vip',
        switch: {
          sourceId: s.sourceId,
          oldInstance: ref(s.a),
          vip: { address: s.lab.vip },
          candidates: [ref(s.b)],
        },
      },
    ],
  };
  const file = join(dir, 'drill.yaml');
  await writeFile(file, stringifyYaml(input));
  const scheduled = await cli(['readiness', 'schedule', '--every', '1h', '--file', file, '--now']);
  expect(scheduled.stderr).toBe('');
  expect(scheduled.exitCode).toBe(0);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = await cli(['-o', 'json', 'readiness']);
    const latest = r.stdout ? (JSON.parse(r.stdout) as LatestReadiness) : null;
    const checked = latest?.report?.sources[0]?.checkedAt;
    if (latest?.drill?.status === 'COMPLETED' && checked && Date.parse(checked) >= since) {
      const text = await cli(['readiness']);
      return { latest, text: text.stdout, code: r.exitCode ?? -1 };
    }
    if (Date.now() > deadline) throw new Error(`no drill finished: ${r.stdout} ${r.stderr}`);
    await new Promise((ok) => setTimeout(ok, 1000));
  }
}

describe('readiness drills (real stack)', { timeout: 300_000 }, () => {
  it('given a candidate that passes every check, should show the source ready with it as target, and change nothing', async () => {
    const before = {
      dm: await settledDmState(),
      dumps: await dumps(),
      vip: await s.lab.provider().locate(s.lab.vip, []),
    };
    const { latest, text, code } = await drill(Date.now() - 1000);
    const report = latest.report as ReadinessReport;
    expect(report.sources).toHaveLength(1);
    const src = report.sources[0]!;
    expect(src).toMatchObject({ sourceId: s.sourceId, ready: true, target: at(s.b), reasons: [] });
    // never under the source's switch ID: a real switch is never refused or joined because of a drill
    expect(src.workflowId).not.toBe(switchWorkflowId('default', s.sourceId));
    expect(src.workflowId.startsWith('dm-switch-readiness/default')).toBe(true);
    expect(code).toBe(0);
    expect(text).toMatch(new RegExp(`${s.sourceId}\\s+yes\\s+${at(s.b).replace(/\./g, '\\.')}`));
    // nothing paused, nothing moved: DM's stages and positions, the dump connections, the VIP's holder
    expect(await dmState()).toEqual(before.dm);
    expect(await dumps()).toEqual(before.dumps);
    expect(await s.lab.provider().locate(s.lab.vip, [])).toBe(before.vip);
    // the drill and its source's dry run, for the replay suite
    await saveHistory(s.client.workflow.getHandle(latest.drill!.workflowId), 'readiness-drill-ready');
    await saveHistory(s.client.workflow.getHandle(src.workflowId), 'readiness-source-ready');
  });

  it('given a real switch waiting at its gate, should run the drill beside it and leave the switch waiting', async () => {
    const req: VipSwitchRequest = {
      sourceId: s.sourceId,
      newInstance: ref(s.b),
      oldInstance: ref(s.a),
      vip: { address: s.lab.vip },
      approvals: { gates: ['before-freeze'], timeoutSeconds: 600 },
    };
    const sw = (await startSwitch(s.client, 'vipSwitch', QUEUE, req)).handle;
    try {
      await waitForStatus(sw, (x) => x.phase === 'awaiting-approval', 120_000);
      const { latest } = await drill(Date.now() - 1000);
      expect(latest.report!.sources[0]!.ready).toBe(true);
      const still = await waitForStatus(sw, (x) => x.phase === 'awaiting-approval', 10_000);
      expect(still.outcome).toBeUndefined();
    } finally {
      await sw.signal('reject', { gate: 'before-freeze', by: 'readiness test' }).catch(() => undefined);
      await sw.result().catch(() => undefined);
    }
  });

  it('given the only candidate carrying an errant transaction, should show the source not ready with typed reasons', async () => {
    // a DBA's write on B, binary logging on: no other server has it
    await s.b.query(
      'CREATE DATABASE IF NOT EXISTS scratch; CREATE TABLE IF NOT EXISTS scratch.local_write (id INT PRIMARY KEY); ' +
        'INSERT INTO scratch.local_write VALUES (1)',
    );
    const before = { dm: await settledDmState(), dumps: await dumps() };
    const { latest, text, code } = await drill(Date.now() - 1000);
    const src = latest.report!.sources[0]!;
    expect(src.ready).toBe(false);
    expect(src.target).toBeNull();
    expect(src.reasons.map((x) => [x.kind, x.candidate ?? null])).toEqual([
      ['errant-gtids', at(s.b)],
      ['no-candidate', null],
    ]);
    expect(src.reasons[0]!.text).toContain(await s.b.variable('server_uuid'));
    expect(code).toBe(1);
    expect(text).toMatch(new RegExp(`${s.sourceId}\\s+NO\\s+-`));
    expect(text).toContain('[errant-gtids]');
    expect(await dmState()).toEqual(before.dm);
    expect(await dumps()).toEqual(before.dumps);
    await saveHistory(s.client.workflow.getHandle(src.workflowId), 'readiness-source-errant');
  });

  it('given --delete, should remove the schedule, and the table then says there is none', async () => {
    const del = await cli(['readiness', 'schedule', '--delete']);
    expect(del.exitCode).toBe(0);
    expect(del.stdout).toMatch(/removed/);
    const r = await cli(['readiness']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/no readiness schedule/);
  });
});
