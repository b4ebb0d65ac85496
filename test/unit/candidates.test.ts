/**
 * How a switch chooses among candidates (workflows/candidates.ts,
 * rankCandidates): pure judging of readings taken before, so every rule and
 * the order can be checked here on made-up readings; the real stack checks
 * the same on live instances (test/integration/candidates-e2e.test.ts).
 */
import { describe, expect, it } from 'vitest';
import type { InstanceFacts, SourceTask } from '../../common/switch/types.js';
import { validateVipSwitchInput } from '../../common/switch/input.js';
import { LAG_TOLERANCE, rankCandidates, type CandidateReading, type RankInput } from '../../workflows/candidates.js';

const P = '3e11fa47-71ca-11e1-9e33-c80aa9429562'; // the primary
const X = '11111111-2222-3333-4444-555555555555'; // a replica's own writes
const OTHER = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'; // another topology

function facts(
  host: string,
  executed: string,
  o: { purged?: string; uuid?: string; replicating?: boolean; sourceGtids?: string; binlogFormat?: string } = {},
): InstanceFacts {
  return {
    reachable: true,
    address: `${host}:3306`,
    flavor: 'mysql',
    version: '9.7.4',
    serverUuid: o.uuid ?? `00000000-0000-0000-0000-${host.replace(/\D/g, '').padStart(12, '0')}`,
    serverId: 10,
    gtidMode: 'ON',
    binlogFormat: o.binlogFormat ?? 'ROW',
    binlogRowImage: 'FULL',
    binlogRowEventMaxSize: 8192,
    logBin: true,
    gtidExecuted: executed,
    gtidPurged: o.purged ?? '',
    replica:
      o.replicating === false
        ? null
        : {
            ioRunning: true,
            sqlRunning: true,
            sourceHost: 'primary',
            sourcePort: 3306,
            sourceUuid: P,
            sourceServerId: 1,
            lastError: '',
          },
    readOnly: true,
    logReplicaUpdates: true,
    sources:
      o.replicating === false
        ? []
        : [
            {
              reachable: true,
              address: 'primary:3306',
              serverUuid: P,
              serverId: 1,
              gtids: o.sourceGtids ?? `${P}:1-1000`,
            },
          ],
  };
}
const ref = (host: string) => ({ host, port: 3306, credentials: 'c' });
const cand = (host: string, f: InstanceFacts, i: number, vip?: CandidateReading['vip']): CandidateReading => ({
  ref: ref(host),
  origin: `candidates[${i}]`,
  facts: f,
  ...(vip ? { vip } : {}),
});
const task = (gtid: string): SourceTask =>
  ({ name: 't', stage: 'Running', unit: 'Sync', errors: [], syncerBinlogGtid: gtid }) as unknown as SourceTask;

function rank(candidates: CandidateReading[], extra: Partial<RankInput> = {}) {
  return rankCandidates({
    flavor: 'mysql',
    tasks: [task(`${P}:1-900`)],
    relayGtid: null,
    old: null,
    current: null,
    candidates,
    ...extra,
  });
}

describe('rankCandidates', () => {
  it('passes over an unreachable candidate and chooses the next, saying why', () => {
    const r = rank([
      cand('db1', { reachable: false, address: 'db1:3306', error: 'connect ECONNREFUSED' }, 0),
      cand('db2', facts('db2', `${P}:1-1000`), 1),
    ]);
    expect(r.chosen?.ref.host).toBe('db2');
    expect(r.reports.map((c) => [c.address, c.chosen, c.qualifies])).toEqual([
      ['db2:3306', true, true],
      ['db1:3306', false, false],
    ]);
    expect(r.reports[1]!.reasons.join()).toMatch(/not reachable: connect ECONNREFUSED/);
  });

  it('a lagging candidate loses to a caught-up one, whatever the order', () => {
    const r = rank([cand('db1', facts('db1', `${P}:1-700`), 0), cand('db2', facts('db2', `${P}:1-1000`), 1)]);
    expect(r.chosen?.ref.host).toBe('db2');
    const lagging = r.reports.find((c) => c.address === 'db1:3306')!;
    expect(lagging.qualifies).toBe(true); // it replicates, so it may still catch up
    expect(lagging.lag).toBe('300');
    expect(lagging.reasons.join()).toMatch(/must catch up/);
  });

  it('lag decides between two that hold gtid-S; within the tolerance, the operator order does', () => {
    const behind = 950 - Number(LAG_TOLERANCE) - 1;
    const a = rank([cand('db1', facts('db1', `${P}:1-${behind}`), 0), cand('db2', facts('db2', `${P}:1-1000`), 1)], {
      tasks: [task(`${P}:1-100`)],
    });
    expect(a.chosen?.ref.host).toBe('db2');
    expect(a.reports[1]!.reasons.join()).toMatch(/lags \d+ transaction/);
    const b = rank([cand('db1', facts('db1', `${P}:1-990`), 0), cand('db2', facts('db2', `${P}:1-1000`), 1)], {
      tasks: [task(`${P}:1-100`)],
    });
    expect(b.chosen?.ref.host).toBe('db1');
    expect(b.reports[1]!.reasons.join()).toMatch(/operator's order/);
  });

  it('an errant candidate is passed over with the errant GTIDs', () => {
    const r = rank([
      cand('db1', facts('db1', `${P}:1-1000,\n${X}:1-3`), 0),
      cand('db2', facts('db2', `${P}:1-1000`), 1),
    ]);
    expect(r.chosen?.ref.host).toBe('db2');
    const errant = r.reports.find((c) => c.address === 'db1:3306')!;
    expect(errant.qualifies).toBe(false);
    expect(errant.reasons.join()).toContain(`${X}:1-3`);
  });

  it('refuses what breaks the GTID rules, another topology, the old instance, a VIP the provider cannot move', () => {
    const r = rank(
      [
        cand('db1', facts('db1', `${P}:1-1000`, { purged: `${P}:1-950` }), 0),
        cand('db2', facts('db2', `${OTHER}:1-50`, { sourceGtids: `${OTHER}:1-50` }), 1),
        cand('old', facts('old', `${P}:1-1000`), 2),
        cand('db4', facts('db4', `${P}:1-1000`), 3, {
          ok: false,
          checked: true,
          reason: 'VIP provider "default" cannot move it there',
        }),
        cand('db5', facts('db5', `${P}:1-1000`, { binlogFormat: 'MIXED' }), 4),
      ],
      { old: { ref: ref('old'), facts: facts('old', `${P}:1-1000`) } },
    );
    expect(r.chosen).toBeNull();
    const why = Object.fromEntries(r.reports.map((c) => [c.address, c.reasons.join(' ')]));
    expect(why['db1:3306']).toMatch(/gtid-P ⊄ gtid-S/);
    expect(why['db2:3306']).toMatch(/another topology/);
    expect(why['old:3306']).toMatch(/old instance/);
    expect(why['db4:3306']).toMatch(/cannot move/);
    expect(why['db5:3306']).toMatch(/binlog_format is MIXED/);
  });

  it('a candidate DM already reads (a half-done switch) comes first', () => {
    const r = rank([cand('db1', facts('db1', `${P}:1-1000`), 0), cand('db2', facts('db2', `${P}:1-1000`), 1)], {
      current: 'db2:3306',
    });
    expect(r.chosen?.ref.host).toBe('db2');
    expect(r.reports[0]!.reasons.join()).toMatch(/already reads it/);
  });

  it('a candidate lacking gtid-S that does not replicate cannot catch up: passed over', () => {
    const r = rank([cand('db1', facts('db1', `${P}:1-700`, { replicating: false }), 0)]);
    expect(r.chosen).toBeNull();
    expect(r.reports[0]!.reasons.join()).toMatch(/not replicating/);
  });
});

describe('the request names its target one way', () => {
  const base = { sourceId: 's1', vip: { address: '198.51.100.14' } };
  const one = { host: 'db2', credentials: 'c' };
  const problems = (raw: unknown) => {
    const v = validateVipSwitchInput(raw);
    return v.ok ? [] : v.problems;
  };
  it('accepts newInstance, candidates or discover', () => {
    expect(problems({ ...base, newInstance: one })).toEqual([]);
    expect(problems({ ...base, candidates: [one, { host: 'db3', credentials: 'c' }] })).toEqual([]);
    expect(problems({ ...base, discover: { replicasOf: { host: 'primary', credentials: 'c' } } })).toEqual([]);
    expect(problems({ ...base, oldInstance: one, discover: {} })).toEqual([]);
  });
  it('refuses none, two at once, an empty list, and discover with nobody to ask, saying what to give', () => {
    expect(problems(base).join()).toMatch(/newInstance: required: name the target as newInstance, or give candidates/);
    expect(problems({ ...base, newInstance: one, candidates: [one] }).join()).toMatch(
      /give only one of newInstance, candidates and discover \(got newInstance and candidates\)/,
    );
    expect(problems({ ...base, candidates: [] }).join()).toMatch(/candidates: give at least one candidate/);
    expect(problems({ ...base, discover: {} }).join()).toMatch(
      /discover needs an instance to ask for replicas: give discover.replicasOf/,
    );
    expect(problems({ ...base, candidates: Array.from({ length: 17 }, () => one) }).join()).toMatch(/at most 16/);
  });
});

describe('split brain among candidates', () => {
  const promoted = (host: string, executed: string, uuid: string) => ({
    ...(facts(host, executed, { replicating: false, uuid }) as Extract<InstanceFacts, { reachable: true }>),
    readOnly: false,
  });
  const A = '0a0a0a0a-0000-0000-0000-000000000001';
  const B = '0b0b0b0b-0000-0000-0000-000000000002';

  it('given two qualifying candidates that each took writes as a primary, should choose none and name both sets', () => {
    const r = rank([
      cand('db1', promoted('db1', `${P}:1-1000,${A}:1-3`, A), 0),
      cand('db2', promoted('db2', `${P}:1-1000,${B}:1`, B), 1),
    ]);
    expect(r.chosen).toBeNull();
    expect(r.splitBrain).toMatch(
      new RegExp(
        `split brain among the candidates: db1:3306 holds ${A}:1-3 that db2:3306 lacks, and db2:3306 holds ${B}:1 that db1:3306 lacks`,
      ),
    );
    expect(r.reports.every((c) => c.qualifies && !c.chosen)).toBe(true);
  });

  it("given a promoted candidate and one still behind in the old primary's stream, should see no split brain", () => {
    const r = rank([
      cand('db1', promoted('db1', `${P}:1-1000,${A}:1-3`, A), 0),
      cand('db2', facts('db2', `${P}:1-990`), 1),
    ]);
    expect(r.splitBrain).toBeUndefined();
    expect(r.chosen?.ref.host).toBe('db1');
  });

  it("given two replicas each missing a few of the primary's transactions (parallel appliers), should see lag, not a split brain", () => {
    const r = rank([cand('db1', facts('db1', `${P}:1-994:996-1000`), 0), cand('db2', facts('db2', `${P}:1-995`), 1)]);
    expect(r.splitBrain).toBeUndefined();
    expect(r.chosen).not.toBeNull();
  });
});

describe('split brain among candidates with a shared past', () => {
  it("given two promoted candidates that both knew each other's earlier writes, should still see the split brain (each has new writes of its own)", () => {
    const A = '0a0a0a0a-0000-0000-0000-000000000001';
    const B = '0b0b0b0b-0000-0000-0000-000000000002';
    const promoted = (host: string, executed: string, uuid: string) => ({
      ...(facts(host, executed, { replicating: false, uuid }) as Extract<InstanceFacts, { reachable: true }>),
      readOnly: false,
    });
    // DM had replicated the earlier writes of both
    const earlier = { tasks: [task(`${P}:1-900,${A}:1,${B}:1`)] };
    const r = rank(
      [
        cand('db1', promoted('db1', `${P}:1-1000,${A}:1-5,${B}:1`, A), 0),
        cand('db2', promoted('db2', `${P}:1-1000,${A}:1,${B}:1-2`, B), 1),
      ],
      earlier,
    );
    expect(r.reports.every((c) => c.qualifies)).toBe(true);
    expect(r.chosen).toBeNull();
    expect(r.splitBrain).toMatch(
      new RegExp(`db1:3306 holds ${A}:2-5 that db2:3306 lacks, and db2:3306 holds ${B}:2 that db1:3306 lacks`),
    );
  });
});
