/**
 * The Temporal dev server the project builds: reachable, and durable across a
 * restart on its SQLite file (what the crash-recovery tests rely on).
 */
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { checkSearchAttributes } from '../../worker/search-attributes.js';
import Long from 'long';

let temporal: TemporalDevServer;
beforeAll(async () => {
  temporal = await startTemporal({ ui: true });
});
afterAll(async () => {
  await temporal?.destroy();
});

describe('Temporal dev server', () => {
  it('given a workflow started before a restart, should still know it afterwards', async () => {
    const connect = async () => new Client({ connection: await Connection.connect({ address: temporal.address }) });
    let client = await connect();
    const workflowId = `durability-${Date.now()}`;
    // No worker polls this queue: the workflow stays open, recorded only in the server's SQLite file.
    await client.workflow.start('anyWorkflowType', {
      taskQueue: 'nobody-polls-this',
      workflowId,
      args: [{ hello: 'world' }],
    });
    await client.connection.close();

    await temporal.kill();
    await temporal.start();

    client = await connect();
    const description = await client.workflow.getHandle(workflowId).describe();
    expect(description.status.name).toBe('RUNNING');
    expect(description.type).toBe('anyWorkflowType');
    await client.workflow.getHandle(workflowId).terminate('test done');
    await client.connection.close();
  });

  it("given the dev server, should have the switches' search attributes registered, and the worker's check should see a namespace without them", async () => {
    expect(await checkSearchAttributes({ address: temporal.address }, 'default')).toEqual({ ok: true });
    const connection = await Connection.connect({ address: temporal.address });
    try {
      await connection.workflowService.registerNamespace({
        namespace: 'bare',
        workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) },
      });
    } finally {
      await connection.close();
    }
    const bare = await checkSearchAttributes({ address: temporal.address }, 'bare');
    expect(bare.ok).toBe(false);
    expect(bare).toMatchObject({
      missing: ['DmSwitchSource', 'DmSwitchCluster', 'DmSwitchKind', 'DmSwitchPhase', 'DmSwitchOutcome'],
    });
    expect((bare as { fix: string }).fix).toMatch(
      /^temporal operator search-attribute create --namespace bare --name DmSwitchSource --type Keyword/,
    );
  });

  it('serves the Web UI', async () => {
    const res = await fetch(temporal.uiUrl!);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/<html/i);
  });
});
