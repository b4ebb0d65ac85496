/**
 * A VIP switch's preflight reads each task's validator from the query-status it already makes: DM reports it in the
 * subtask's `validation` part (null without a validator). Parsed here from DM's recorded answers
 * (scripts/capture-dm-validation-fixtures.ts, the sandbox's DM): a Running validator is one that reads the binlog
 * over its own connection, a Stopped one (after `dmctl validation stop`) reads nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDmctlOutput, sourceStateOf } from '../../activities/dm/parse.js';
import { readinessOf } from '../../common/switch/readiness.js';
import { readingValidators } from '../../workflows/validator-reads.js';

const dir = join(import.meta.dirname, '../fixtures/dmctl');
const stateOf = (name: string) => {
  const f = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as { stdout: string; stderr: string };
  const status = parseDmctlOutput(f.stdout, f.stderr, 0);
  return sourceStateOf('mysql-replica-01', { 'enable-gtid': true, flavor: 'mysql' }, status);
};

describe("a task's validator in query-status", () => {
  it("given DM's answer with the validator Running, should read its mode and stage and count it as reading", () => {
    const s = stateOf('query-status-validator-running');
    expect(s.tasks.map((t) => [t.name, t.validation])).toEqual([
      ['app-to-downstream', { mode: 'fast', stage: 'Running' }],
    ]);
    expect(readingValidators(s.tasks)).toEqual([{ task: 'app-to-downstream', mode: 'fast', stage: 'Running' }]);
  });

  it("given DM's answer after validation stop, should read it Stopped and not count it as reading", () => {
    const s = stateOf('query-status-validator-stopped');
    expect(s.tasks.map((t) => t.validation)).toEqual([{ mode: 'fast', stage: 'Stopped' }]);
    expect(readingValidators(s.tasks)).toEqual([]);
  });

  it("given DM's answer for a task without a validator (validation null), should have none", () => {
    const s = stateOf('query-status-source');
    expect(s.tasks.map((t) => t.validation)).toEqual([undefined]);
    expect(readingValidators(s.tasks)).toEqual([]);
  });

  it('given a dry run refused because a validator reads, should give the readiness reason its own kind', () => {
    const reason = 'switch refused, nothing was changed: task app of source src runs DM’s continuous validation …';
    const r = readinessOf(
      {
        outcome: 'refused',
        failureType: 'ValidatorReads',
        decisions: [{ at: '', phase: 'preflight', verdict: 'refuse', reason }],
      },
      [],
    );
    expect(r).toEqual({
      ready: false,
      target: null,
      catchUp: false,
      reasons: [{ kind: 'validator-reads', text: reason }],
    });
  });
});
