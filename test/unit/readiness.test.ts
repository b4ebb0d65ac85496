/**
 * The readiness table's rules without a stack: a dry run's status turned into ready/target/typed reasons
 * (common/switch/readiness.ts), the schedule's interval, and the table as `dm-switch readiness` prints it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as stringifyYaml } from 'yaml';
import { intervalSeconds, ReadinessInputError, readDrillInput, renderReadiness } from '../../client/readiness.js';
import { readinessOf } from '../../common/switch/readiness.js';
import type { CandidateReport, Decision } from '../../common/switch/status.js';

const refuse = (reason: string): Decision => ({ at: '', phase: 'choosing-target', verdict: 'refuse', reason });
const candidate = (address: string, over: Partial<CandidateReport> = {}): CandidateReport => ({
  address,
  origin: 'candidates[0]',
  chosen: false,
  qualifies: false,
  reasons: [],
  ...over,
});

describe('readinessOf', () => {
  it('given a dry run that chose a target, should be ready with it and no reason', () => {
    const chosen = candidate('b:3306', { chosen: true, qualifies: true });
    const r = readinessOf({ outcome: 'dry-run', decisions: [], candidates: [chosen], target: 'b:3306' }, []);
    expect(r).toEqual({ ready: true, target: 'b:3306', catchUp: false, reasons: [] });
  });

  it('given a dry run whose target must catch up, should be ready and say so', () => {
    const wait: Decision = { at: '', phase: 'gtid-check', verdict: 'wait', reason: 'gtid-S ⊄ gtid-E …' };
    const r = readinessOf({ outcome: 'dry-run', decisions: [wait], target: 'b:3306' }, []);
    expect(r).toMatchObject({ ready: true, catchUp: true });
  });

  it('given no candidate, should list each candidate reason by its kind, then no-candidate', () => {
    const c = candidate('c:3306', {
      reasons: ['task app: gtid-P ⊄ gtid-S …', 'tagged'],
      kinds: ['gtid-purged', 'tagged-gtids'],
    });
    const r = readinessOf(
      {
        outcome: 'refused',
        failureType: 'NoCandidate',
        decisions: [refuse('no candidate qualifies')],
        candidates: [c],
      },
      [],
    );
    expect(r.ready).toBe(false);
    expect(r.target).toBeNull();
    expect(r.reasons).toEqual([
      { kind: 'gtid-purged', candidate: 'c:3306', text: 'task app: gtid-P ⊄ gtid-S …' },
      { kind: 'tagged-gtids', candidate: 'c:3306', text: 'tagged' },
      { kind: 'no-candidate', text: 'no candidate qualifies' },
    ]);
  });

  it('given split brain (candidates qualify, none chosen), should say split-brain, whatever the words', () => {
    const both = [candidate('a:3306', { qualifies: true }), candidate('b:3306', { qualifies: true })];
    const r = readinessOf(
      { outcome: 'refused', failureType: 'GtidRefused', decisions: [refuse('words')], candidates: both },
      [],
    );
    expect(r.reasons.map((x) => x.kind)).toEqual(['split-brain']);
  });

  it('given a ready dry run but a task in error, should not be ready, with the target still shown', () => {
    const r = readinessOf({ outcome: 'dry-run', decisions: [], target: 'b:3306' }, [
      { name: 'app', errors: ['binlog checksum mismatch'] },
    ]);
    expect(r).toMatchObject({ ready: false, target: 'b:3306' });
    expect(r.reasons).toEqual([{ kind: 'task-error', text: 'task app reports errors: binlog checksum mismatch' }]);
  });

  it('given a drill that could not finish (an activity failed), should say drill-failed', () => {
    const r = readinessOf({ outcome: 'refused', failureType: 'DmOperationFailed', decisions: [refuse('x')] }, []);
    expect(r.reasons.map((x) => x.kind)).toEqual(['drill-failed']);
  });
});

describe('the schedule and the table', () => {
  it('given a drill file with an invalid request or a source listed twice, should refuse it, naming each', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dm-switch-drill-'));
    try {
      const file = join(dir, 'drill.yaml');
      const ok = { sourceId: 'src1', oldInstance: { host: 'db-a', credentials: 'u' }, vip: { address: 'v' } };
      await writeFile(
        file,
        stringifyYaml({
          sources: [
            { kind: 'vip', switch: { ...ok, candidates: [{ host: 'db-b', credentials: 'u' }] } },
            { kind: 'vip', switch: { ...ok, candidates: [{ host: 'db-b', credentials: 'u' }] } },
            { kind: 'vip', switch: { sourceId: 'src2', candidates: [] } },
          ],
        }),
      );
      await expect(readDrillInput(file)).rejects.toThrow(
        /sources\[1\]: source src1 is listed twice; keep one request for it; sources\[2\] \(src2\): /,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given intervals, should read them in seconds and refuse what is shorter than a minute or not one', () => {
    expect([intervalSeconds('15m'), intervalSeconds('1h'), intervalSeconds('2h30m'), intervalSeconds('90s')]).toEqual([
      900, 3600, 9000, 90,
    ]);
    for (const bad of ['30s', '', '15', 'soon', '1d']) expect(() => intervalSeconds(bad)).toThrow(ReadinessInputError);
  });

  it('given a drill, should print one line per source and every reason with its kind', () => {
    const text = renderReadiness(
      {
        scheduleId: 'dm-switch-readiness/default',
        everySeconds: 900,
        running: false,
        drill: { workflowId: 'dm-switch-readiness/default-x', runId: 'r', status: 'COMPLETED' },
        report: {
          dmCluster: 'default',
          startedAt: '2026-12-07T10:00:00Z',
          finishedAt: '2026-12-07T10:00:05Z',
          sources: [
            {
              dmCluster: 'default',
              sourceId: 'one',
              procedure: 'vip',
              ready: true,
              target: 'b:3306',
              reasons: [],
              checkedAt: '2026-12-07T10:00:04Z',
              workflowId: 'w1',
            },
            {
              dmCluster: 'default',
              sourceId: 'two',
              procedure: 'address',
              ready: false,
              target: null,
              reasons: [{ kind: 'errant-gtids', candidate: 'c:3306', text: 'it carries errant transactions' }],
              checkedAt: '2026-12-07T10:00:04Z',
              workflowId: 'w2',
            },
          ],
        },
      },
      Date.parse('2026-12-07T10:01:04Z'),
    );
    expect(text).toMatch(/^one\s+yes\s+b:3306\s+2026-12-07T10:00:04Z \(60 s ago\)\s+-$/m);
    expect(text).toMatch(/^two\s+NO\s+-\s+.*errant-gtids$/m);
    expect(text).toContain('  two: [errant-gtids] c:3306: it carries errant transactions');
  });
});
