/**
 * The real stack end to end: Temporal, a MySQL 9.7 topology and a DM cluster
 * built from source. Rows written on the primary reach the DM source's
 * upstream (a replica) and arrive downstream through a real DM task.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOk } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import { tableChecksum, writeRows } from '../sandbox/topology.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true });
}, 300_000);
afterAll(async () => {
  await stack?.stop();
});

async function eventually<T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('DM replication on the sandbox', () => {
  it('given a running incremental task, should deliver rows written on the primary downstream exactly once', async () => {
    const { topology, downstream, dm } = stack;
    await writeRows(topology!.primary, 40);
    const want = await tableChecksum(topology!.primary);
    const got = await eventually('downstream checksum', () => tableChecksum(downstream!), (c) => c.rows === want.rows && c.checksum === want.checksum);
    expect(got).toEqual(want);

    const status = expectOk('query-status', await dm!.ctl(['query-status', stack.taskName!]));
    const sub = (status.sources as Array<{ subTaskStatus: Array<{ stage: string; unit: string; sync?: { syncerBinlogGtid: string } }> }>)[0]!.subTaskStatus[0]!;
    expect(sub.stage).toBe('Running');
    expect(sub.unit).toBe('Sync');
    expect(sub.sync?.syncerBinlogGtid).toMatch(/^[0-9a-f-]{36}:/);
  });

  it('runs the Temporal dev server beside it', async () => {
    expect(stack.temporal?.running).toBe(true);
  });
});
