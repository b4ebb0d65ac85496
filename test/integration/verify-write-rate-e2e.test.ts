/**
 * Verification at a moderate write rate with DM's default checkpoint flush interval (30 s), on the real stack.
 *
 * query-status shows a task's position as of its last checkpoint flush (DM's Syncer.Status reads
 * checkpoint.FlushedGlobalPoint). The pause flushes it; while rows keep coming DM flushes again once the interval
 * has passed since that flush, and at once after any DDL it applies. The application here writes plain INSERTs
 * (no DDL, unlike writeRows), so verification can end only after that next flush: these cases pin that it waits for
 * DM's flushed position to include what the new instance had at resume (transactions the frozen position lacked),
 * and that this costs no more than one flush interval.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import type { DbInstance } from '../sandbox/db.js';
import { downstreamMatches, runSwitch } from '../sandbox/switch-harness.js';
import { startVipSwitchStack, type VipSwitchStack } from '../sandbox/vip-switch-stack.js';
import {
  createRateTable,
  RATE_TABLE,
  restartTaskWithFlush,
  startRateWriter,
  verifyTimes,
} from '../sandbox/write-rate.js';

let vs: VipSwitchStack;
const DM_DEFAULT_FLUSH_SECONDS = 30;

beforeAll(async () => {
  vs = await startVipSwitchStack('e2e-write-rate');
  await createRateTable(vs.primary);
  const shown = await restartTaskWithFlush(vs.dm, vs.taskName, vs.sourceId, vs.tidb, 'default');
  expect(shown).toBe(DM_DEFAULT_FLUSH_SECONDS);
}, 300_000);

afterAll(async () => {
  await vs?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });

describe("verification at 2 rows/s with DM's default checkpoint flush (real stack)", { timeout: 400_000 }, () => {
  it("given plain INSERTs through the switch, should wait for DM's flushed position to include what the new instance had at resume, within one flush interval", async () => {
    const { primary, a, b, lab, client, taskName: TASK } = vs;
    const writer = startRateWriter(primary, 2);
    let written = 0;
    try {
      await new Promise((r) => setTimeout(r, 3000));
      const req: VipSwitchRequest = {
        sourceId: vs.sourceId,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
      };
      const { status, error, handle } = await runSwitch(client, 'vipSwitch', 'e2e-write-rate', req);
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');

      const set = (label: string) => {
        const g = status.gtids.filter((x) => x.label === label).at(-1);
        expect(g, `status records ${label}`).toBeDefined();
        return MysqlGtidSet.parse(g!.set);
      };
      const frozen = set(`gtid-S task ${TASK} (frozen)`);
      const atResume = set('gtid-E new instance (at resume)');
      const caughtUp = set(`gtid-S task ${TASK} (caught up with the new instance)`);
      // the wait had something to prove: the new instance had transactions at resume that DM's frozen position lacked
      expect(atResume.isSubsetOf(frozen), `${atResume.toString()} ⊄ ${frozen.toString()}`).toBe(false);
      // and it ended on DM's flushed position, which holds them
      expect(atResume.isSubsetOf(caughtUp), `${atResume.toString()} ⊆ ${caughtUp.toString()}`).toBe(true);

      // the wait for that position took at most one flush interval (and a few polls) ...
      const { waited, pauseToCaughtUp } = await verifyTimes(handle);
      expect(waited).toBeGreaterThanOrEqual(0);
      expect(waited).toBeLessThanOrEqual((DM_DEFAULT_FLUSH_SECONDS + 10) * 1000);
      // and it held until DM's first flush after the pause's own: nothing earlier is taken for the proof
      expect(pauseToCaughtUp).toBeGreaterThanOrEqual(DM_DEFAULT_FLUSH_SECONDS * 1000);
    } finally {
      written = await writer.stop();
    }
    expect(written).toBeGreaterThan(10);
    await downstreamMatches(primary, vs.tidb, 90_000, RATE_TABLE);
  });
});
