/**
 * One switch per source at a time, on a real Temporal server: a second start
 * for the same source is refused with a clear message while the first runs.
 */
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

const request = {
  sourceId: 'busy-source',
  newInstance: { host: '198.51.100.12', credentials: 'upstream' },
  vip: { address: '198.51.100.14' },
};

describe('starting a switch', () => {
  it('given a switch of the source already running, should refuse the second with who holds it and what to do', async () => {
    // no worker polls this queue: the first switch stays running
    const first = await startVipSwitch(client, request, { taskQueue: 'nobody-polls' });
    expect(first.workflowId).toBe('dm-switch/default/busy-source');
    const second = startVipSwitch(
      client,
      { ...request, newInstance: { host: '198.51.100.13', credentials: 'upstream' } },
      { taskQueue: 'nobody-polls' },
    );
    await expect(second).rejects.toThrow(SwitchRequestError);
    await expect(second).rejects.toThrow(
      new RegExp(`already running \\(run ${first.runId}.*only one switch per source at a time`),
    );
    const d = await first.handle.describe();
    expect(d.status.name).toBe('RUNNING');
    await first.handle.terminate('test done');
    // a finished switch does not block the next one
    const third = await startVipSwitch(client, request, { taskQueue: 'nobody-polls' });
    expect(third.runId).not.toBe(first.runId);
    await third.handle.terminate('test done');
  });

  it("given no worker on the switch's task queue, should say so at once from `dm-switch status`, not time out the query", async () => {
    const started = await startVipSwitch(
      client,
      { ...request, sourceId: 'unread-source' },
      { taskQueue: 'nobody-polls' },
    );
    try {
      const t0 = Date.now();
      const r = await execa(
        process.execPath,
        [join(import.meta.dirname, '../../bin/dm-switch.js'), 'status', started.workflowId],
        { reject: false, env: { TEMPORAL_ADDRESS: temporal.address }, stdin: 'ignore' },
      );
      expect(r.stderr).toMatch(
        /no worker polls task queue "nobody-polls", and only a worker can read switch dm-switch\/default\/unread-source \(running\); start one \(DM_SWITCH_CONFIG=/,
      );
      expect(r.exitCode).toBe(4);
      // Temporal itself holds such a query ~30 s before failing it with "Failed to query Workflow"
      expect(Date.now() - t0).toBeLessThan(15_000);
    } finally {
      await started.handle.terminate('test done');
    }
  });

  it('given a switch started as the Temporal UI does (no search attributes) and no worker, should list it as not run yet', async () => {
    const handle = await client.workflow.start('vipSwitch', {
      taskQueue: 'nobody-polls',
      workflowId: 'dm-switch/default/from-the-ui',
      args: [{ ...request, sourceId: 'from-the-ui' }],
    });
    try {
      let row: { workflowId: string; status: string; phase: string } | undefined;
      for (let i = 0; i < 20 && !row; i++) {
        const r = await execa(
          process.execPath,
          [join(import.meta.dirname, '../../bin/dm-switch.js'), '-o', 'json', 'list'],
          { env: { TEMPORAL_ADDRESS: temporal.address }, stdin: 'ignore' },
        );
        row = (JSON.parse(r.stdout) as Array<{ workflowId: string; status: string; phase: string }>).find(
          (x) => x.workflowId === handle.workflowId,
        );
        if (!row) await new Promise((res) => setTimeout(res, 250));
      }
      expect(row).toMatchObject({ status: 'RUNNING', phase: 'no worker has run it yet' });
    } finally {
      await handle.terminate('test done');
    }
  });

  it('given an invalid request, should refuse before starting anything', async () => {
    await expect(startVipSwitch(client, { sourceId: 'x' })).rejects.toThrow(
      /invalid switch request, nothing was started:[\s\S]*newInstance/,
    );
  });
  it('given a temporal.toml profile, should connect the CLI through it, and name the address it cannot reach', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsw-envconfig-'));
    try {
      const toml = join(dir, 'temporal.toml');
      await writeFile(
        toml,
        `[profile.sandbox]\naddress = "${temporal.address}"\nnamespace = "default"\n\n[profile.nowhere]\naddress = "127.0.0.1:9"\n`,
      );
      const cli = (profile: string) =>
        execa(process.execPath, [join(import.meta.dirname, '../../bin/dm-switch.js'), '-o', 'json', 'list'], {
          reject: false,
          env: { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: profile },
          stdin: 'ignore',
        });
      const ok = await cli('sandbox');
      expect(ok.exitCode).toBe(0);
      expect(Array.isArray(JSON.parse(ok.stdout))).toBe(true);
      const down = await cli('nowhere');
      expect(down.exitCode).toBe(4);
      expect(down.stderr).toMatch(
        /^dm-switch: cannot reach Temporal at 127\.0\.0\.1:9: .*set TEMPORAL_ADDRESS \(or a profile in temporal\.toml\)/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
