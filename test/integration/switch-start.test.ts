/**
 * One switch per source at a time, on a real Temporal server: a second start
 * for the same source is refused with a clear message while the first runs.
 */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVipSwitch, SwitchRequestError } from '../../client/switches.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';

let temporal: TemporalDevServer;
let client: Client;
beforeAll(async () => {
  temporal = await startTemporal();
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
});
afterAll(async () => {
  await client?.connection.close();
  await temporal?.destroy();
});

const request = { sourceId: 'busy-source', newInstance: { host: '198.51.100.12', credentials: 'upstream' }, vip: { address: '198.51.100.14' } };

describe('starting a switch', () => {
  it('given a switch of the source already running, should refuse the second with who holds it and what to do', async () => {
    // no worker polls this queue: the first switch stays running
    const first = await startVipSwitch(client, request, { taskQueue: 'nobody-polls' });
    expect(first.workflowId).toBe('dm-switch/default/busy-source');
    const second = startVipSwitch(client, { ...request, newInstance: { host: '198.51.100.13', credentials: 'upstream' } }, { taskQueue: 'nobody-polls' });
    await expect(second).rejects.toThrow(SwitchRequestError);
    await expect(second).rejects.toThrow(new RegExp(`already running \\(run ${first.runId}.*only one switch per source at a time`));
    const d = await first.handle.describe();
    expect(d.status.name).toBe('RUNNING');
    await first.handle.terminate('test done');
    // a finished switch does not block the next one
    const third = await startVipSwitch(client, request, { taskQueue: 'nobody-polls' });
    expect(third.runId).not.toBe(first.runId);
    await third.handle.terminate('test done');
  });

  it('given an invalid request, should refuse before starting anything', async () => {
    await expect(startVipSwitch(client, { sourceId: 'x' })).rejects.toThrow(/invalid switch request, nothing was started:[\s\S]*newInstance/);
  });
});
