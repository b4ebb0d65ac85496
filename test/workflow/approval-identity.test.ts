/**
 * Who decided a gate, as Temporal recorded it: each approval names the
 * person its sender typed (`by`), and `dm-switch status` sets beside it the
 * identity of the Temporal client that sent it, read from the history. A
 * client here says it is "mallory@laptop" and types "alice".
 */
import { Client, Connection } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { sentDecisions, withIdentities } from '../../client/approval-identity.js';
import { renderStatus } from '../../client/render.js';
import { approveSignal, approveUpdate } from '../../common/switch/messages.js';
import { fakeWorld, input, pendingGate, runSwitch, scriptedServer, useScriptedTemporal } from './scripted-world.js';

const temporal = useScriptedTemporal();

describe('approvals and the Temporal identity that sent them', () => {
  it('given approvals by update and by signal from a client with its own identity, should show that identity beside the typed name', async () => {
    const { address, namespace } = scriptedServer();
    const other = new Client({
      connection: await Connection.connect({ address }),
      namespace,
      identity: 'mallory@laptop',
    });
    try {
      let workflowId = '';
      const { status } = await runSwitch(
        fakeWorld(),
        input({ approvals: { gates: ['before-switch', 'before-resume'], timeoutSeconds: 600 } }),
        async (h) => {
          workflowId = h.workflowId;
          const mine = other.workflow.getHandle(h.workflowId);
          await pendingGate(h, 'before-switch');
          await mine.executeUpdate(approveUpdate, { args: [{ gate: 'before-switch', by: 'alice' }] });
          await pendingGate(h, 'before-resume');
          await h.signal(approveSignal, { by: 'bob' });
        },
      );
      expect(status.outcome).toBe('switched');
      const client = temporal.client();
      const sent = await sentDecisions(client.workflow.getHandle(workflowId), client.options.loadedDataConverter);
      const shown = withIdentities(status.approvals, sent);
      expect(shown.map((a) => [a.gate, a.by, a.via, a.identity])).toEqual([
        ['before-switch', 'alice', 'update', 'mallory@laptop'],
        ['before-resume', 'bob', 'signal', client.options.identity],
      ]);
      expect(renderStatus(workflowId, { ...status, approvals: shown })).toContain(
        'before-switch: approved by alice (update, Temporal identity mallory@laptop)',
      );
    } finally {
      await other.connection.close();
    }
  });
});
