/**
 * A switch that picks its own target (the instance DM read died), on the real stack:
 * MySQL 9.7 hosts in network namespaces (primary, replicas A, B, C, D)
 * behind a real VIP that DM reads through, TiDB downstream, the Temporal dev
 * server and the real worker. Each case builds the situation for real (an
 * instance stopped, a replica delayed, a local write on a replica) and
 * asserts the choice, every candidate's reason, and the real end state of
 * DM, the VIP and the downstream.
 *
 * The cases run in order, each from where the previous one left the source.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { renderStatus } from '../../client/render.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  saveHistory,
  startInProcessWorker,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-candidates';
let stack: Stack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let c: DbInstance;
let d: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 4 }, dm: true, vip: true });
  [primary, a, b, c, d] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 10);
  await Promise.all([a, b, c, d].map((r) => waitCaughtUp(r, primary)));
  const w = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE));
  client = w.client;
  stops.push(w.stop);
}, 300_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await stack?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const at = (db: DbInstance) => `${db.host}:3306`;
const options = { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 };
const vipReq = (
  from: DbInstance,
  target: Pick<VipSwitchRequest, 'candidates' | 'discover'>,
  extra: Partial<VipSwitchRequest> = {},
): VipSwitchRequest => ({
  sourceId: SOURCE,
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options,
  ...target,
  ...extra,
});
const writing = (ended: Promise<unknown>) => writeUntil(ended, () => writeRows(primary, 1));
const run = (r: VipSwitchRequest) => runSwitch(client, 'vipSwitch', QUEUE, r, writing);
const vipHolder = () => lab.provider().locate(lab.vip, []);
const report = (s: SwitchStatus, db: DbInstance) => s.candidates?.find((x) => x.address === at(db));

/** DM is where the previous case left it: on `on`, Running, downstream equal to the primary. */
async function settled(on: DbInstance): Promise<void> {
  expect(await vipHolder()).toBe(on.host);
  await writeRows(primary, 3);
  await downstreamMatches(primary, tidb, 90_000);
  expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
}

describe('a switch that chooses its own target (real stack)', { timeout: 300_000 }, () => {
  it('given no candidate that qualifies (one down, one errant, the old one, one off the VIP network), should refuse with every reason and change nothing', async () => {
    // D: a DBA's write on the replica, binary logging on: errant (no other server has it)
    await d.query(
      'CREATE DATABASE IF NOT EXISTS scratch; CREATE TABLE IF NOT EXISTS scratch.local_write (id INT PRIMARY KEY); INSERT INTO scratch.local_write VALUES (1)',
    );
    await c.stop();
    // E: a server on loopback, off the VIP's network: the provider's check says it cannot hold the VIP
    // at the port DM reaches through the VIP (3306), so that the VIP provider's check is what passes it over
    const e = await startDb({ name: 'off-network', host: '127.0.0.2', port: 3306 });
    stops.push(() => e.destroy());
    const eRef = { host: e.host, port: e.port, credentials: 'sandbox-root' };
    const { status, error } = await run(vipReq(a, { candidates: [ref(c), ref(d), ref(a), eRef] }));
    expect(failureType(error)).toBe('NoCandidate');
    expect(status.outcome).toBe('refused');
    expect(status.steps).toEqual([]);
    expect(status.candidates?.map((x) => [x.address, x.chosen, x.qualifies])).toEqual([
      [at(c), false, false],
      [at(d), false, false],
      [at(a), false, false],
      [`${e.host}:${e.port}`, false, false],
    ]);
    expect(status.candidates![3]!.reasons.join()).toMatch(
      new RegExp(`cannot move ${lab.vip.replace(/\./g, '\\.')} to ${e.host}: .*not on the VIP's network`),
    );
    expect(report(status, c)!.reasons.join()).toMatch(/not reachable/);
    expect(report(status, d)!.reasons.join()).toMatch(
      /carries errant transactions .*written on the candidate .* itself/,
    );
    expect(report(status, d)!.reasons.join()).toContain(await d.variable('server_uuid'));
    expect(report(status, a)!.reasons.join()).toMatch(/old instance/);
    const refusal = status.decisions
      .filter((x) => x.verdict === 'refuse')
      .map((x) => x.reason)
      .join('\n');
    expect(refusal).toMatch(
      new RegExp(
        `no candidate qualifies, nothing was changed: .*${c.host}:3306: not reachable.*${d.host}:3306: .*${a.host}:3306: it is the old instance`,
      ),
    );
    // what an operator reads in `dm-switch status`
    expect(renderStatus('wf', status)).toMatch(
      new RegExp(`passed over ${c.host.replace(/\./g, '\\.')}:3306 \\(candidates\\[0\\]\\)`),
    );
    await settled(a);
  });

  it('given a configured target that is down, should choose the next candidate, say so at the gate, and switch to it', async () => {
    const started = await startSwitch(
      client,
      'vipSwitch',
      QUEUE,
      vipReq(a, { candidates: [ref(c), ref(b)] }, { approvals: { gates: ['before-freeze'] } }),
    );
    const waiting = await waitForStatus(started.handle, (s) => s.phase === 'awaiting-approval');
    expect(waiting.steps).toEqual([]);
    const summary = waiting.approvals[0]!.approving.summary;
    expect(summary).toContain(`Target ${at(b)} chosen among 2 candidate(s)`);
    expect(summary).toMatch(new RegExp(`not chosen: ${c.host.replace(/\./g, '\\.')}:3306 \\(not reachable`));
    await started.handle.signal('approve', { by: 'dba' });
    const ended = writeUntil(
      started.handle.result().catch(() => undefined),
      () => writeRows(primary, 1),
    );
    const { status, error } = await started.end();
    await ended;
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.candidates?.[0]).toMatchObject({ address: at(b), chosen: true, qualifies: true });
    await saveHistory(started.handle, 'vip-switch-candidates-target-down');
    expect(report(status, c)).toMatchObject({ chosen: false, qualifies: false });
    expect(await vipHolder()).toBe(b.host);
    await settled(b);
  });

  it('given the same request as an address switch dry run, should choose the same way (both procedures choose)', async () => {
    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      oldInstance: ref(b),
      candidates: [ref(c), ref(a)],
      taskCredentials: 'sandbox-root',
      options: { ...options, dryRun: true },
    };
    const { status, error } = await runSwitch(client, 'addressSwitch', QUEUE, req);
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('dry-run');
    expect(status.candidates?.map((x) => [x.address, x.chosen])).toEqual([
      [at(a), true],
      [at(c), false],
    ]);
    expect(status.steps).toEqual([]);
    await settled(b);
  });

  it('given a lagging candidate first, should choose the caught-up one and say why the lagging one lost', async () => {
    await c.start();
    await waitCaughtUp(c, primary, 60_000);
    // A applies what it receives a minute late: replicating, but behind DM
    await a.query('STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 120; START REPLICA');
    try {
      await writeRows(primary, 20);
      await downstreamMatches(primary, tidb, 90_000);
      const { status, error } = await run(vipReq(b, { candidates: [ref(a), ref(c)] }));
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(status.candidates?.map((x) => [x.address, x.chosen, x.qualifies])).toEqual([
        [at(c), true, true],
        [at(a), false, true],
      ]);
      const lagging = report(status, a)!;
      expect(BigInt(lagging.lag!)).toBeGreaterThanOrEqual(20n);
      expect(lagging.reasons.join()).toMatch(/must catch up/);
      expect(await vipHolder()).toBe(c.host);
      await settled(c);

      // discovery: the replicas of the old instance's source (the primary), judged the same way
      const found = await run(vipReq(c, { discover: {} }));
      expect(found.error).toBeUndefined();
      expect(found.status.outcome).toBe('switched');
      expect(found.status.decisions.map((x) => x.reason).join('\n')).toMatch(
        new RegExp(`discovering candidates: .*${primary.host.replace(/\./g, '\\.')}:3306: 4 replica\\(s\\) reported`),
      );
      expect(found.status.candidates?.[0]).toMatchObject({
        address: at(b),
        chosen: true,
        origin: `replica of ${at(primary)}`,
      });
      expect(report(found.status, a)).toMatchObject({ chosen: false });
      expect(report(found.status, d)).toMatchObject({ chosen: false, qualifies: false });
      expect(report(found.status, c)!.reasons.join()).toMatch(/old instance/);
      expect(await vipHolder()).toBe(b.host);
      await settled(b);
    } finally {
      await a.query('STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA');
    }
  });

  it('given the instance DM reads dead, should refuse to discover through it and say whom to ask, then choose among the primary replicas', async () => {
    // B holds the VIP and DM reads it (the previous case); it dies
    b.kill();
    await writeRows(primary, 5);
    const nobody = await run(vipReq(b, { discover: {} }));
    expect(failureType(nobody.error)).toBe('NoCandidate');
    expect(nobody.status.steps).toEqual([]);
    expect(
      nobody.status.decisions
        .filter((x) => x.verdict === 'refuse')
        .map((x) => x.reason)
        .join(),
    ).toMatch(/does not answer.*Give discover\.replicasOf/);

    const { status, error } = await run(vipReq(b, { discover: { replicasOf: ref(primary) } }));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    const chosen = status.candidates!.find((x) => x.chosen)!;
    expect([at(a), at(c)]).toContain(chosen.address);
    expect(report(status, d)).toMatchObject({ qualifies: false });
    expect(status.warnings.join()).toMatch(/old instance .* is unreachable/);
    const on = chosen.address === at(a) ? a : c;
    expect(await vipHolder()).toBe(on.host);
    await settled(on);
  });
});
