/**
 * The catch-up wait (mysqlWaitForGtids) against a real primary and replica:
 * a retried wait keeps the first attempt's deadline (from its heartbeat
 * details) instead of starting over, and a replica whose replication has
 * stopped is reported at once, with its error, instead of being waited for
 * until the timeout. The activity runs in the SDK's MockActivityEnvironment,
 * which gives it the heartbeat details a retry would see.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { startTopology, waitCaughtUp, writeRows, type Topology } from '../sandbox/topology.js';

const activities = createMysqlActivities(async () => ({ user: 'root', password: '' }));
let topo: Topology;
beforeAll(async () => {
  topo = await startTopology({ replicas: 1 });
  await writeRows(topo.primary, 3);
  await waitCaughtUp(topo.replicas[0]!, topo.primary);
}, 180_000);
afterAll(async () => {
  await topo?.destroy();
});

const gtidExecuted = async () =>
  (await topo.primary.query<{ g: string }>('SELECT @@GLOBAL.gtid_executed AS g'))[0]!.g.replace(/\s+/g, '');
type Waited = Awaited<ReturnType<typeof activities.mysqlWaitForGtids>>;
const replicaRef = () => ({ host: topo.replicas[0]!.host, port: topo.replicas[0]!.port, credentials: 'root' });

describe('the catch-up wait', () => {
  it('given a retry of a wait that began 50 s ago with a 55 s bound, should give up after the 5 s left, not wait 55 s again', async () => {
    const r = topo.replicas[0]!;
    await r.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA SQL_THREAD',
    );
    try {
      await writeRows(topo.primary, 1);
      const env = new MockActivityEnvironment({ heartbeatDetails: { started: Date.now() - 50_000 } });
      const t0 = Date.now();
      const out = (await env.run(activities.mysqlWaitForGtids, {
        instance: replicaRef(),
        flavor: 'mysql' as const,
        gtidSet: await gtidExecuted(),
        timeoutSeconds: 55,
      })) as Waited;
      expect(out.caughtUp).toBe(false);
      expect(out.stopped).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(out.waitedSeconds).toBeGreaterThanOrEqual(55);
    } finally {
      await r.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
      await waitCaughtUp(r, topo.primary, 60_000);
    }
  });

  it("given the replica's replication stopped, should say so with the replica's state within seconds, not at the 60 s timeout", async () => {
    const r = topo.replicas[0]!;
    await r.query('STOP REPLICA');
    try {
      await writeRows(topo.primary, 1);
      const env = new MockActivityEnvironment();
      const t0 = Date.now();
      const out = (await env.run(activities.mysqlWaitForGtids, {
        instance: replicaRef(),
        flavor: 'mysql' as const,
        gtidSet: await gtidExecuted(),
        timeoutSeconds: 60,
      })) as Waited;
      expect(out.caughtUp).toBe(false);
      expect(out.stopped).toMatch(/replication of .* has stopped: no channel has its SQL thread running/);
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await r.query('START REPLICA');
      await waitCaughtUp(r, topo.primary, 60_000);
    }
  });

  it('given a replica that catches up while it is waited for, should return caught up', async () => {
    await writeRows(topo.primary, 2);
    const env = new MockActivityEnvironment();
    const out = (await env.run(activities.mysqlWaitForGtids, {
      instance: replicaRef(),
      flavor: 'mysql' as const,
      gtidSet: await gtidExecuted(),
      timeoutSeconds: 30,
    })) as Waited;
    expect(out.caughtUp).toBe(true);
  });
});
