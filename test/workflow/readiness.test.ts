/**
 * Readiness drills (workflows/drill.ts) on a real Temporal dev server with scripted activities
 * (scripted-world.ts): each source's switch runs as a dry run under the drill's own workflow IDs, and the table
 * says ready or not, the chosen target and every reason, typed. Real servers: test/integration/readiness-e2e.test.ts.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { switchWorkflowId } from '../../common/switch/ids.js';
import type { DrillInput, ReadinessReport } from '../../common/switch/readiness.js';
import { fakeCandidateWorld, input, runWorkflow, U, useScriptedTemporal } from './scripted-world.js';

const { client } = useScriptedTemporal();

const B = 'bbbbbbbb-0000-0000-0000-00000000000b';
const ref = (host: string) => ({ host, credentials: 'upstream' });
/** The VIP switch request of the scripted world, choosing among `hosts`. */
const choosing = (hosts: string[], over: Record<string, unknown> = {}) => {
  const { newInstance: _, ...rest } = input();
  return { ...rest, candidates: hosts.map(ref), ...over };
};
/** What would be a change: a pause, a resume, a VIP move. */
const changes = (calls: string[]) => calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'));
let n = 0;
const drill = (world: { activities: object }, req: DrillInput, during?: (h: WorkflowHandle) => Promise<void>) =>
  runWorkflow<ReadinessReport>(world, 'readinessDrill', req, `dm-switch-readiness/default-test-${++n}`, during);

describe('readiness drill (scripted activities)', () => {
  it('given a candidate that passes every check, should show the source ready with that target and change nothing', async () => {
    const w = fakeCandidateWorld({
      'purged.example': { executed: `${U}:1-120`, purged: `${U}:1-120` },
      'good.example': {},
    });
    // a switch of the same source started while the drill runs (a dry run: the world stays as it is) starts
    let switchStarted: string | undefined;
    const { result, error } = await drill(
      w,
      { dmCluster: 'default', sources: [{ kind: 'vip', switch: choosing(['purged.example', 'good.example']) }] },
      async (h) => {
        const { taskQueue, status } = await h.describe();
        expect(status.name).toBe('RUNNING');
        const sw = await client().workflow.start('vipSwitch', {
          taskQueue,
          workflowId: switchWorkflowId('default', 'src'),
          args: [choosing(['good.example'], { options: { dryRun: true } })],
        });
        switchStarted = (await sw.result()).outcome;
      },
    );
    expect(switchStarted).toBe('dry-run');
    expect(error).toBeUndefined();
    const src = result!.sources[0]!;
    expect(src).toMatchObject({ sourceId: 'src', ready: true, target: 'good.example:3306', reasons: [] });
    expect(src.workflowId).not.toBe(switchWorkflowId('default', 'src'));
    expect(Date.parse(src.checkedAt)).toBeGreaterThan(Date.now() - 60_000);
    expect(changes(w.calls)).toEqual([]);
    expect(w.holder()).toBe('old.example');
  });

  it('given no candidate that qualifies, should type every reason per candidate and say none qualifies', async () => {
    const w = fakeCandidateWorld({
      'purged.example': { executed: `${U}:1-120`, purged: `${U}:1-120` },
      'errant.example': { executed: `${U}:1-100,${B}:1-5`, uuid: B, sourceGtids: `${U}:1-100` },
      'blind.example': { over: { logReplicaUpdates: false } },
    });
    const { result } = await drill(w, {
      dmCluster: 'default',
      sources: [{ kind: 'vip', switch: choosing(['purged.example', 'errant.example', 'blind.example']) }],
    });
    const src = result!.sources[0]!;
    expect(src.ready).toBe(false);
    expect(src.target).toBeNull();
    expect(src.reasons.map((r) => [r.kind, r.candidate ?? null])).toEqual([
      ['gtid-purged', 'purged.example:3306'],
      ['errant-gtids', 'errant.example:3306'],
      ['cannot-serve', 'blind.example:3306'],
      ['no-candidate', null],
    ]);
    expect(src.reasons[0]!.text).toContain(`${U}:101-120`);
    expect(changes(w.calls)).toEqual([]);
  });

  it('given a task in error and a source whose request is invalid, should report both, each with its kind', async () => {
    const w = fakeCandidateWorld({ 'good.example': {} });
    w.tasks[0]!.errors = ['binlog checksum mismatch (scripted)'];
    const { result } = await drill(w, {
      dmCluster: 'default',
      sources: [
        { kind: 'vip', switch: choosing(['good.example']) },
        { kind: 'vip', switch: { sourceId: 'broken', candidates: [] } },
      ],
    });
    const [src, broken] = result!.sources;
    expect(src).toMatchObject({ ready: false, target: 'good.example:3306' });
    expect(src!.reasons.map((r) => r.kind)).toEqual(['task-error']);
    expect(src!.reasons[0]!.text).toContain('binlog checksum mismatch');
    expect(broken).toMatchObject({ sourceId: 'broken', ready: false, target: null });
    expect(broken!.reasons.map((r) => r.kind)).toEqual(['invalid-input']);
    expect(changes(w.calls)).toEqual([]);
  });

  it('given a source DM has that the drill file does not list, should show it not ready, saying nobody checks it', async () => {
    const w = fakeCandidateWorld({ 'good.example': {} });
    const from = { host: 'db9.example', port: 3306 };
    w.activities.dmListSources = async () => [
      { sourceId: 'src', from: { host: 'vip.example', port: 3306 }, flavor: 'mysql' as const },
      { sourceId: 'forgotten', from, flavor: 'mysql' as const },
    ];
    const { result } = await drill(w, {
      dmCluster: 'default',
      sources: [{ kind: 'vip', switch: choosing(['good.example']) }],
    });
    expect(result!.sources.map((x) => [x.sourceId, x.ready, x.procedure])).toEqual([
      ['src', true, 'vip'],
      ['forgotten', false, null],
    ]);
    expect(result!.sources[1]!.reasons).toEqual([
      { kind: 'not-in-drill', text: expect.stringContaining("the drill's file gives no switch request for it") },
    ]);
  });

  it('given approval gates in the request, should record them and wait at none', async () => {
    const w = fakeCandidateWorld({ 'good.example': {} });
    const approvals = { gates: ['before-freeze', 'before-switch'], timeoutSeconds: 60 };
    const started = Date.now();
    const { result } = await drill(w, {
      dmCluster: 'default',
      sources: [{ kind: 'vip', switch: choosing(['good.example'], { approvals }) }],
    });
    expect(result!.sources[0]!.ready).toBe(true);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(w.notices).toEqual([]);
  });
});
