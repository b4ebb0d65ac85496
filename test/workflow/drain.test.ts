/**
 * Draining a host and the return (workflows/drain.ts) on a real Temporal dev
 * server with scripted activities (scripted-world.ts, fakeDrainWorld): every
 * source reading old.example moves by its own address switch (a child
 * workflow: a dry run to plan, then the switch), one whose switch refuses
 * stays and is reported, one approval of the whole plan, and the return
 * trip. The drain on the real stack is test/integration/drain-e2e.test.ts.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { drainWorkflowId, type HostStatus } from '../../common/switch/drain.js';
import { approveUpdate, rejectSignal } from '../../common/switch/messages.js';
import type { ApprovalRecord } from '../../common/switch/status.js';
import { fakeDrainWorld, runWorkflow, U, useScriptedTemporal } from './scripted-world.js';

useScriptedTemporal();

const options = { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 20 };
const common = { host: 'old.example', credentials: 'upstream', taskCredentials: 'downstream', options };
const candidates = [{ host: 'new.example', credentials: 'upstream' }];
const drainInput = (over: Record<string, unknown> = {}) => ({ ...common, candidates, ...over });
/** A source's address switch, as this world records it. */
const moved = (id: string, to: string) => [
  `stopTasks ${id}`,
  `stopSource ${id}`,
  `createSource ${id} ${to}`,
  `startTasks ${id} ${to}`,
];
const drain = (w: ReturnType<typeof fakeDrainWorld>, req: unknown, during?: (h: WorkflowHandle) => Promise<void>) =>
  runWorkflow<HostStatus>(w, 'drainHost', req, drainWorkflowId('drain', 'old.example', 3306), during);
/** Calls that changed DM (reads are not recorded in this world). */
const changesOf = (calls: string[], id: string) => calls.filter((c) => c.split(' ')[1] === id);

async function pendingPlan(h: WorkflowHandle): Promise<HostStatus> {
  for (let i = 0; i < 300; i++) {
    const s = (await h.query('status')) as HostStatus;
    if (s.approvals?.some((a) => a.state === 'pending')) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the plan never waited for approval');
}

describe('drain and return (scripted activities)', () => {
  it(
    'given three sources reading the host, should move each to the candidate by its own switch and end ' + 'drained',
    async () => {
      const w = fakeDrainWorld([{ id: 's1' }, { id: 's2' }, { id: 's3' }]);
      const { result, status } = await drain(w, drainInput());
      expect(result?.outcome).toBe('drained');
      expect(status.left).toEqual([]);
      expect(status.sources.map((s) => [s.sourceId, s.procedure, s.plan, s.target, s.outcome])).toEqual([
        ['s1', 'address', 'switch', 'new.example:3306', 'switched'],
        ['s2', 'address', 'switch', 'new.example:3306', 'switched'],
        ['s3', 'address', 'switch', 'new.example:3306', 'switched'],
      ]);
      for (const id of ['s1', 's2', 's3']) {
        expect(w.reads(id)).toBe('new.example');
        expect(w.stages(id)).toEqual([`${id}-app Running`]);
        expect(changesOf(w.calls, id)).toEqual(moved(id, 'new.example'));
      }
    },
  );

  it(
    'given one source whose position the candidate purged, should move the others, leave that one untouched and end ' +
      'not-drained naming it',
    async () => {
      // s2's task is at U:1-5; new.example purged U:1-10: its switch refuses in the plan
      const w = fakeDrainWorld([{ id: 's1' }, { id: 's2', gtidS: `${U}:1-5` }, { id: 's3' }]);
      const { result, status } = await drain(w, drainInput());
      expect(result?.outcome).toBe('not-drained');
      expect(status.left).toEqual(['default/s2']);
      const s2 = status.sources.find((s) => s.sourceId === 's2')!;
      expect([s2.plan, s2.outcome]).toEqual(['refused', 'refused']);
      expect(s2.reasons.join('\n')).toMatch(/its switch refuses: .*new\.example/);
      expect(s2.reasons.join('\n')).toContain(`${U}:6-10`);
      expect(changesOf(w.calls, 's2')).toEqual([]);
      expect(w.reads('s2')).toBe('old.example');
      expect(w.stages('s2')).toEqual(['s2-app Running']);
      expect([w.reads('s1'), w.reads('s3')]).toEqual(['new.example', 'new.example']);
      expect(status.sources.filter((s) => s.outcome === 'switched').map((s) => s.sourceId)).toEqual(['s1', 's3']);
    },
  );

  it('given approve, should change nothing until the plan is approved, then drain', async () => {
    const w = fakeDrainWorld([{ id: 's1' }, { id: 's2' }]);
    let atGate: { calls: string[]; status?: HostStatus } = { calls: [] };
    const { result, status } = await drain(w, drainInput({ approve: true }), async (h) => {
      const pending = await pendingPlan(h);
      atGate = { calls: [...w.calls], status: pending };
      await h.executeUpdate(approveUpdate, { args: [{ by: 'dba', comment: 'window 42' }] });
    });
    // the plan the approver saw: both sources, their target, nothing changed yet
    expect(atGate.status?.sources.map((s) => [s.sourceId, s.plan, s.target])).toEqual([
      ['s1', 'switch', 'new.example:3306'],
      ['s2', 'switch', 'new.example:3306'],
    ]);
    expect(atGate.calls).toEqual([]);
    expect(result?.outcome).toBe('drained');
    expect(status.approvals).toMatchObject([{ gate: 'plan', state: 'approved', by: 'dba', comment: 'window 42' }]);
    expect([w.reads('s1'), w.reads('s2')]).toEqual(['new.example', 'new.example']);
    // someone was told the plan waits, once, as a switch's gate tells (the sources' own dry runs tell nobody)
    expect(w.notices).toEqual([
      expect.objectContaining({
        event: 'awaiting-approval',
        kind: 'drain',
        host: 'old.example:3306',
        gate: 'plan',
        summary: status.approvals[0]!.approving.summary,
        decideBy: expect.any(String),
      }),
    ]);
  });

  it('given the plan rejected, should end refused with nothing changed', async () => {
    const w = fakeDrainWorld([{ id: 's1' }, { id: 's2' }]);
    const { result, status } = await drain(w, drainInput({ approve: true }), async (h) => {
      await pendingPlan(h);
      await h.signal(rejectSignal, { by: 'dba' });
    });
    expect(result?.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toBe('the plan was rejected by dba; nothing was changed');
    expect(w.calls).toEqual([]);
    expect([w.reads('s1'), w.reads('s2')]).toEqual(['old.example', 'old.example']);
    // a refused drain put nothing under maintenance
    expect(status.maintenance).toBeUndefined();
  });

  it(
    "given approve, should keep the plan's approval as a switch keeps a gate's: one record of gate plan, with the " +
      'plan the approver saw, and refuse an approve naming a gate the drain has not',
    async () => {
      const w = fakeDrainWorld([{ id: 's1' }, { id: 's2' }]);
      let wrongGate = '';
      let record: ApprovalRecord<string> | undefined;
      const { result, status } = await drain(w, drainInput({ approve: true }), async (h) => {
        await pendingPlan(h);
        wrongGate = await h.executeUpdate(approveUpdate, { args: [{ gate: 'before-switch', by: 'dba' }] }).then(
          () => 'accepted',
          (e: Error) => String((e as { cause?: Error }).cause?.message ?? e.message),
        );
        record = (await h.executeUpdate(approveUpdate, { args: [{ by: 'dba' }] })) as ApprovalRecord<string>;
      });
      expect(wrongGate).toMatch(/unknown gate "before-switch": the gates are plan/);
      expect(record).toMatchObject({ gate: 'plan', state: 'approved', by: 'dba', via: 'update' });
      const shown = [
        'address switch of default/s1 (reads old.example:3306) to new.example:3306',
        'address switch of default/s2 (reads old.example:3306) to new.example:3306',
      ];
      expect(record?.approving.plan).toEqual(shown);
      expect(status.plan).toEqual(shown);
      expect(status.approvals).toHaveLength(1);
      expect(result?.outcome).toBe('drained');
    },
  );

  it('given a plan only with approve, should say it would wait for the approval of its plan, and change nothing', async () => {
    const w = fakeDrainWorld([{ id: 's1' }]);
    const { result, status } = await drain(w, drainInput({ approve: true, options: { ...options, dryRun: true } }));
    expect(result?.outcome).toBe('planned');
    expect(status.decisions.map((d) => d.reason).join('\n')).toMatch(/dry run: would wait for approval at gate plan/);
    expect(status.approvals).toEqual([]);
    expect(w.calls).toEqual([]);
  });

  it('given a drained host, should move the sources back on the return (undrain) and end returned', async () => {
    const w = fakeDrainWorld([{ id: 's1' }, { id: 's2' }]);
    const drained = await drain(w, drainInput());
    expect(drained.result?.outcome).toBe('drained');
    w.calls.length = 0;
    const back = {
      ...common,
      sources: drained.status.sources.map((s) => ({
        dmCluster: s.dmCluster,
        sourceId: s.sourceId,
        procedure: s.procedure,
        from: { host: 'new.example', port: 3306, credentials: 'upstream' },
      })),
    };
    const returnId = drainWorkflowId('return', 'old.example', 3306);
    const { result, status } = await runWorkflow<HostStatus>(w, 'returnToHost', back, returnId);
    expect(result?.outcome).toBe('returned');
    expect(status.left).toEqual([]);
    expect(status.sources.map((s) => [s.sourceId, s.target, s.outcome])).toEqual([
      ['s1', 'old.example:3306', 'switched'],
      ['s2', 'old.example:3306', 'switched'],
    ]);
    for (const id of ['s1', 's2']) {
      expect(w.reads(id)).toBe('old.example');
      expect(changesOf(w.calls, id)).toEqual(moved(id, 'old.example'));
    }
  });
});
