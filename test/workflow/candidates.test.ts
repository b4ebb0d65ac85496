/**
 * Target choice (workflows/candidates.ts) in a VIP switch, on a real Temporal
 * dev server with scripted activities (scripted-world.ts, fakeCandidateWorld):
 * configured candidates and discovered ones, each rule that passes a candidate
 * over, the lag ranking and its tolerance (ties go by the operator's order),
 * and no candidate qualifying (refused before any change). The rules
 * themselves are unit-tested in test/unit/candidates.test.ts; real servers in
 * test/integration/candidates-e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { failureType, fakeCandidateWorld, input, runSwitch, U, useScriptedTemporal } from './scripted-world.js';

useScriptedTemporal();

const B = 'bbbbbbbb-0000-0000-0000-00000000000b';
const ref = (host: string) => ({ host, credentials: 'upstream' });
/** A VIP switch choosing among `hosts` (in that order), or discovering. */
const choosing = (to: { candidates: string[] } | { discover: Record<string, never> }) => {
  const { newInstance: _, ...rest } = input();
  return 'candidates' in to ? { ...rest, candidates: to.candidates.map(ref) } : { ...rest, ...to };
};
const changes = (calls: string[]) => calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'));

describe('target choice (scripted activities)', () => {
  it(
    'given candidates each failing one rule but one, should pass each over naming its rule and switch to the one ' +
      'that qualifies',
    async () => {
      const w = fakeCandidateWorld({
        'purged.example': { executed: `${U}:1-120`, purged: `${U}:1-120` },
        'errant.example': { executed: `${U}:1-100,${B}:1-5`, uuid: B, sourceGtids: `${U}:1-100` },
        'blind.example': { over: { logReplicaUpdates: false } },
        'good.example': {},
      });
      const candidates = ['purged.example', 'errant.example', 'blind.example', 'good.example'];
      const { result, status } = await runSwitch(w, choosing({ candidates }));
      expect(result?.outcome).toBe('switched');
      expect(status.target).toBe('good.example:3306');
      expect(w.holder()).toBe('good.example');
      const report = Object.fromEntries(status.candidates!.map((c) => [c.address, c]));
      expect(status.candidates!.map((c) => [c.address, c.chosen, c.qualifies])).toEqual([
        ['good.example:3306', true, true],
        ['purged.example:3306', false, false],
        ['errant.example:3306', false, false],
        ['blind.example:3306', false, false],
      ]);
      // each passed over for its own rule, and only that one
      expect(report['purged.example:3306']!.reasons).toEqual([expect.stringContaining(`${U}:101-120`)]);
      expect(report['errant.example:3306']!.reasons).toEqual([expect.stringContaining(`${B}:1-5`)]);
      const blind = /^cannot serve DM: it is a replica with log_replica_updates OFF/;
      expect(report['blind.example:3306']!.reasons).toEqual([expect.stringMatching(blind)]);
      expect(report['good.example:3306']!.origin).toBe('candidates[3]');
      expect(w.calls).not.toContain('discover old.example');
      expect(changes(w.calls)).toEqual(['pause', 'vipMove good.example', 'resume']);
    },
  );

  it(
    'given candidates lagging by different amounts, should pass over the one lagging beyond the tolerance and take ' +
      "the operator's order between the others (a tie)",
    async () => {
      // the topology is known to have U:1-200: lag 60, 10 and 0
      const w = fakeCandidateWorld({
        'far.example': { executed: `${U}:1-140` },
        'near.example': { executed: `${U}:1-190` },
        'head.example': { executed: `${U}:1-200` },
      });
      const candidates = ['far.example', 'near.example', 'head.example'];
      const { result, status } = await runSwitch(w, choosing({ candidates }));
      expect(result?.outcome).toBe('switched');
      expect(status.candidates!.map((c) => [c.address, c.chosen, c.qualifies, c.lag])).toEqual([
        ['near.example:3306', true, true, '10'],
        ['head.example:3306', false, true, '0'],
        ['far.example:3306', false, true, '60'],
      ]);
      const after = 'ranked after near.example:3306';
      expect(status.candidates![1]!.reasons).toContain(`${after}: as good, but later in the operator's order`);
      expect(status.candidates![2]!.reasons).toContain(`${after}: it lags 60 transaction(s), 10 for the chosen one`);
      expect(w.holder()).toBe('near.example');
    },
  );

  it(
    'given discover, should ask the old instance for its replicas and choose among them, passing over one that does ' +
      'not answer',
    async () => {
      const w = fakeCandidateWorld({ 'replica2.example': {} }, ['replica1.example', 'replica2.example']);
      const { result, status } = await runSwitch(w, choosing({ discover: {} }));
      expect(result?.outcome).toBe('switched');
      expect(w.calls).toContain('discover old.example');
      expect(status.candidates!.map((c) => [c.address, c.origin, c.chosen])).toEqual([
        ['replica2.example:3306', 'replica of old.example:3306', true],
        ['replica1.example:3306', 'replica of old.example:3306', false],
      ]);
      expect(status.candidates![1]!.reasons).toEqual([expect.stringMatching(/^not reachable: connect ECONNREFUSED/)]);
      expect(w.holder()).toBe('replica2.example');
    },
  );

  it(
    "given no candidate that qualifies, should refuse before any change, naming each candidate's " + 'reason',
    async () => {
      const w = fakeCandidateWorld({
        'purged.example': { executed: `${U}:1-120`, purged: `${U}:1-120` },
        'blind.example': { over: { logReplicaUpdates: false } },
      });
      const candidates = ['purged.example', 'blind.example', 'gone.example'];
      const { error, status } = await runSwitch(w, choosing({ candidates }));
      expect(failureType(error)).toBe('NoCandidate');
      expect(status.outcome).toBe('refused');
      const why = status.decisions.at(-1)!.reason;
      expect(why).toMatch(/^no candidate qualifies, nothing was changed: /);
      expect(why).toMatch(new RegExp(`purged.example:3306: .*${U}:101-120`));
      expect(why).toMatch(/blind.example:3306: cannot serve DM: it is a replica with log_replica_updates OFF/);
      expect(why).toMatch(/gone.example:3306: not reachable/);
      expect(changes(w.calls)).toEqual([]);
      expect(w.holder()).toBe('old.example');
    },
  );

  it('given discover finding no replica, should refuse before any change with what to do', async () => {
    const w = fakeCandidateWorld({}, []);
    const { error, status } = await runSwitch(w, choosing({ discover: {} }));
    expect(failureType(error)).toBe('NoCandidate');
    expect(status.outcome).toBe('refused');
    const why = status.decisions.at(-1)?.reason;
    expect(why).toMatch(/^no candidate found, nothing was changed: old.example:3306: 0 replica\(s\) listed\. /);
    expect(why).toContain(
      'Replicas are listed by SHOW REPLICAS (SHOW SLAVE HOSTS before MySQL 8.0.22 and on MariaDB) only with report_host set',
    );
    expect(changes(w.calls)).toEqual([]);
  });

  it('given discover asking an instance that does not answer, should refuse and say to ask one that answers', async () => {
    const w = fakeCandidateWorld({}, 'unanswered');
    const { error, status } = await runSwitch(w, choosing({ discover: {} }));
    expect(failureType(error)).toBe('NoCandidate');
    const why = status.decisions.at(-1)?.reason;
    expect(why).toMatch(
      /^no candidate found, nothing was changed: old.example:3306: connection refused \(scripted\)\. /,
    );
    expect(why).toContain('Give discover.replicasOf: an instance that answers and knows the replicas');
    expect(changes(w.calls)).toEqual([]);
  });
});
