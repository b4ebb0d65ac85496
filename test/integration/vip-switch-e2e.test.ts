/**
 * The VIP switch end to end on real components: MySQL 9.7 hosts in network
 * namespaces (primary, replica A, replica B), a real VIP moved by `ip addr`
 * and a gratuitous ARP, a DM cluster whose source reads through the VIP, TiDB
 * downstream, the Temporal dev server and the real worker activities.
 *
 * Each case asserts the end state of DM, MySQL, the VIP and the downstream
 * data, not only the workflow's result.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { startVipSwitchStack, type VipSwitchStack } from '../sandbox/vip-switch-stack.js';
import {
  downstreamMatches,
  failureType,
  historyEvents,
  relayStatus,
  runSwitch,
  saveHistory,
  startRelay,
  taskState as taskStateOf,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

let vs: VipSwitchStack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;

beforeAll(async () => {
  vs = await startVipSwitchStack('e2e-vip');
  ({ sourceId: SOURCE, taskName: TASK, lab, primary, a, b, dm, tidb, client } = vs);
}, 300_000);

afterAll(async () => {
  await vs?.stop();
});

/** The step that closes DM's idle connections on the old instance before the VIP moves (shard-merge tasks need it). */
const closeIdle = () =>
  `close the idle connections of dm-worker worker1 (${lab.gateway}; registered as replica worker1) on the old instance`;
const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });

const run = (req: VipSwitchRequest, during?: (ended: Promise<unknown>) => Promise<unknown>) =>
  runSwitch(client, 'vipSwitch', 'e2e-vip', req, during);
/** The application keeps writing through the switch (and its verification). */
const writing = (ended: Promise<unknown>) => writeUntil(ended, () => writeRows(primary, 1));
const downstreamMatchesPrimary = (timeoutMs?: number) => downstreamMatches(primary, tidb, timeoutMs);
const taskState = () => taskStateOf(dm, SOURCE, TASK);

// on an idle upstream, verification waits for DM's next position report (the 30 s heartbeat): generous per-test time
describe('VIP switch on the real stack', { timeout: 300_000 }, () => {
  it('given rows before, during and after, should move DM from replica A to B with every row downstream exactly once', async () => {
    await writeRows(primary, 20);
    await downstreamMatchesPrimary();
    // writes while the switch runs: some land while DM is paused
    const { status, error, handle } = await run(
      {
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
      },
      writing,
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    // preflight read the task's checkpoint-flush-interval from DM (the sandbox's 3 s) and said what verification waits
    expect(
      status.decisions.filter((d) => d.phase === 'preflight' && /verification may wait up to/.test(d.reason)),
    ).toEqual([
      expect.objectContaining({
        verdict: 'info',
        reason: expect.stringContaining(`task ${TASK} flushes its checkpoint every 3 s`),
      }),
    ]);
    // every wait polls inside an activity: the history does not grow with verification's wait for DM's position report
    const history = await historyEvents(handle);
    expect(history.count, history.what).toBeLessThanOrEqual(160);
    expect(status.steps.map((s) => s.step)).toEqual([
      `pause-task ${TASK}`,
      closeIdle(),
      `move VIP ${lab.vip} to ${b.host}`,
      `resume-task ${TASK}`,
    ]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);

    await writeRows(primary, 20);
    await downstreamMatchesPrimary();
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
    const dumps = await b.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`,
    );
    expect(Number(dumps[0]!.n)).toBeGreaterThan(0);
  });

  it('given a new instance that lags (SOURCE_DELAY), should wait for it and then switch', async () => {
    // replica A is the target now: make it apply 8 s behind the primary, threads running
    await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 8; START REPLICA SQL_THREAD');
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      await writeRows(primary, 5);
      await downstreamMatchesPrimary(); // DM (through B) is now ahead of A
      outcome = await run(
        {
          sourceId: SOURCE,
          newInstance: ref(a),
          oldInstance: ref(b),
          vip: { address: lab.vip },
          options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
        },
        writing,
      );
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = outcome;
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.decisions.some((d) => d.verdict === 'wait')).toBe(true);
    expect(status.decisions.some((d) => /caught up after \d+ s/.test(d.reason))).toBe(true);
    expect(await lab.provider().locate(lab.vip, [])).toBe(a.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary();
  });

  it('given a new instance that never catches up in time, should time out and leave DM on the old instance', async () => {
    await b.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA SQL_THREAD',
    );
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      await writeRows(primary, 5);
      await downstreamMatchesPrimary();
      outcome = await run({
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 5, verifyTimeoutSeconds: 60 },
      });
    } finally {
      await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = outcome;
    expect(failureType(error)).toBe('CatchUpTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([`resume-task ${TASK}:done`]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(a.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary();
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given the old instance crashed (killed first), should still switch and lose no row', async () => {
    await waitCaughtUp(b, primary, 60_000);
    a.kill();
    await a.waitExit();
    await writeRows(primary, 10); // DM cannot read these until it moves
    const { status, error } = await run(
      {
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
      },
      writing,
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.warnings.join('\n')).toMatch(/old instance .* is unreachable/);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary(90_000);
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given relay on, should stop it for the move, start it after, and verify it moved to a new sub-directory', async () => {
    await a.start(); // back from the crash of the previous case, replicating again
    await waitCaughtUp(a, primary, 60_000);
    const before = await startRelay(dm, SOURCE);
    expect(before?.stage).toBe('Running');
    try {
      await writeRows(primary, 10);
      await downstreamMatchesPrimary();
      const { status, error, handle } = await run(
        {
          sourceId: SOURCE,
          newInstance: ref(a),
          oldInstance: ref(b),
          vip: { address: lab.vip },
          options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
        },
        writing,
      );
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      const history = await historyEvents(handle);
      expect(history.count, history.what).toBeLessThanOrEqual(160);
      await saveHistory(handle, 'vip-switch-relay-polls-in-activities');
      expect(status.steps.map((x) => x.step)).toEqual([
        `pause-task ${TASK}`,
        `stop-relay -s ${SOURCE}`,
        closeIdle(),
        `move VIP ${lab.vip} to ${a.host}`,
        `start-relay -s ${SOURCE}`,
        `resume-task ${TASK}`,
      ]);
      const after = await relayStatus(dm, SOURCE);
      expect(after?.relaySubDir).not.toBe(before?.relaySubDir);
      expect(after?.relaySubDir.startsWith(await a.variable('server_uuid'))).toBe(true);
      expect(status.decisions.at(-2)?.reason).toMatch(/relay switched to sub-directory/);
      await writeRows(primary, 10);
      await downstreamMatchesPrimary();
      expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
    } finally {
      await dm.ctl(['stop-relay', '-s', SOURCE]);
    }
  });
  it('given a switch half done by hand (task paused, VIP already moved), should recognise the state and finish', async () => {
    await waitCaughtUp(b, primary, 60_000);
    expectOk('pause-task', await dm.ctl(['pause-task', '-s', SOURCE, TASK]));
    await lab.provider().move(lab.vip, { host: a.host, port: 3306 }, { host: b.host, port: 3306 });
    await writeRows(primary, 5); // DM cannot see these until it resumes
    const { status, error } = await run(
      {
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
      },
      writing,
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(
      status.decisions.some(
        (d) => d.reason.includes('already points at the new instance') && d.reason.includes('carrying on'),
      ),
    ).toBe(true);
    expect(status.tasks).toEqual([{ name: TASK, stage: 'Running' }]);
    expect(status.steps.map((x) => `${x.step}:${x.result}`)).toEqual([
      `pause-task ${TASK}:done`,
      `move VIP ${lab.vip} to ${b.host}:skipped`,
      `resume-task ${TASK}:done`,
    ]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary(90_000);
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
