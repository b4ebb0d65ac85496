/**
 * What marks a host as under maintenance (activities/host-marks.ts), judged
 * on scripted Temporal answers: the real-stack test (shared-vip-e2e) covers a
 * drain that runs, ends drained and is undrained; these cover the runs it
 * does not produce (refused, plan-only, cancelled, a return that failed).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { createHostMarkActivities, markOf } from '../../activities/host-marks.js';
import { SA } from '../../common/switch/search-attributes.js';

type Run = { workflowId: string; type: string; runId: string; status: string; outcome?: string; start: number };

/** A client whose describe answers each workflow ID's latest run and whose list answers every run. */
function client(runs: Run[]): Client {
  const info = (r: Run) => ({
    workflowId: r.workflowId,
    type: r.type,
    runId: r.runId,
    status: { name: r.status },
    startTime: new Date(r.start * 1000),
    typedSearchAttributes: new TypedSearchAttributes(r.outcome ? [{ key: SA.outcome, value: r.outcome }] : []),
  });
  const latest = (id: string) => runs.filter((r) => r.workflowId === id).sort((a, b) => b.start - a.start)[0];
  return {
    workflow: {
      getHandle: (id: string) => ({
        describe: async () => {
          const r = latest(id);
          if (!r) throw new WorkflowNotFoundError('not found', id, undefined);
          return info(r);
        },
      }),
      list: ({ query }: { query: string }) =>
        (async function* () {
          const id = /WorkflowId = "(.*)"/.exec(query)?.[1];
          for (const r of runs) if (id ? r.workflowId === id : r.type === 'drainHost') yield info(r);
        })(),
    },
  } as unknown as Client;
}

const DRAIN = 'dm-switch-drain/10.0.0.5:3306';
const RETURN = 'dm-switch-return/10.0.0.5:3306';
const drain = (runId: string, status: string, start: number, outcome?: string): Run => ({
  workflowId: DRAIN,
  type: 'drainHost',
  runId,
  status,
  start,
  ...(outcome ? { outcome } : {}),
});
const back = (status: string, start: number, outcome?: string): Run => ({
  workflowId: RETURN,
  type: 'returnToHost',
  runId: `r${start}`,
  status,
  start,
  ...(outcome ? { outcome } : {}),
});

describe('hosts under maintenance', () => {
  it('given a drain running, or ended drained or not-drained, should mark its host', async () => {
    const running = await markOf(client([drain('d1', 'RUNNING', 1)]), DRAIN);
    expect(running).toMatchObject({ host: '10.0.0.5', port: 3306, state: 'draining', runId: 'd1' });
    expect(await markOf(client([drain('d1', 'COMPLETED', 1, 'drained')]), DRAIN)).toMatchObject({ state: 'drained' });
    const not = await markOf(client([drain('d1', 'COMPLETED', 1, 'not-drained')]), DRAIN);
    expect(not).toMatchObject({ state: 'not-drained' });
  });

  it('given a drain refused, only planned, cancelled or failed, should mark nothing', async () => {
    const runs = [
      ['COMPLETED', 'refused'],
      ['COMPLETED', 'planned'],
      ['CANCELLED', undefined],
      ['FAILED', undefined],
    ] as const;
    for (const [status, outcome] of runs) {
      expect(await markOf(client([drain('d1', status, 1, outcome)]), DRAIN), `${status} ${outcome}`).toBeNull();
    }
  });

  it("given a plan-only drain after one that emptied the host, should keep the earlier one's mark", async () => {
    const runs = [drain('d1', 'COMPLETED', 1, 'drained'), drain('d2', 'COMPLETED', 2, 'planned')];
    const m = await markOf(client(runs), DRAIN);
    expect(m).toMatchObject({ runId: 'd1', state: 'drained' });
  });

  it('given a later return, running or ended (not-)returned, should lift the mark; a refused or older one not', async () => {
    const drained = drain('d1', 'COMPLETED', 5, 'drained');
    expect(await markOf(client([drained, back('RUNNING', 6)]), DRAIN)).toBeNull();
    expect(await markOf(client([drained, back('COMPLETED', 6, 'not-returned')]), DRAIN)).toBeNull();
    expect(await markOf(client([drained, back('COMPLETED', 6, 'refused')]), DRAIN)).not.toBeNull();
    expect(await markOf(client([drained, back('COMPLETED', 4, 'returned')]), DRAIN)).not.toBeNull();
  });

  it('given targets, should say which is on a marked host (same port, same host), with the reason', async () => {
    const marks = createHostMarkActivities(() => client([drain('d1', 'RUNNING', 1)]));
    const targets = [
      { host: '10.0.0.5', port: 3306 },
      { host: '10.0.0.5', port: 3307 },
      { host: '10.0.0.6', port: 3306 },
    ];
    const r = await marks.hostMarksOf({ targets });
    expect(r[0]?.reason).toMatch(/^host 10\.0\.0\.5:3306 is being drained by dm-switch-drain\/10\.0\.0\.5:3306 since /);
    expect(r[0]?.reason).toMatch(/: it is under maintenance until `dm-switch undrain 10\.0\.0\.5:3306`$/);
    expect(r.slice(1)).toEqual([null, null]);
  });
});
