/**
 * Reading dmctl's answers, over outputs captured from a real DM cluster
 * (scripts/capture-dm-fixtures.ts), including the ones that are not valid JSON.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dmctlFailures, parseDmctlOutput } from '../../activities/dm/parse.js';

const dir = join(import.meta.dirname, '../fixtures/dmctl');
type Fixture = { args: string[]; exitCode: number; stdout: string; stderr: string };
const fixture = (name: string): Fixture => JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Fixture;
const parse = (name: string) => {
  const f = fixture(name);
  return parseDmctlOutput(f.stdout, f.stderr, f.exitCode);
};

describe('dmctl output', () => {
  it.each(readdirSync(dir).map((f) => f.replace(/\.json$/, '')))(
    'given captured %s, should yield an object with a boolean result',
    (name) => {
      expect(typeof parse(name).result).toBe('boolean');
    },
  );

  it('given start-task with precheck warnings (raw JSON inside a string), should keep the verdict and the report', () => {
    const r = parse('start-task');
    expect(r.result).toBe(true);
    expect(dmctlFailures(r)).toEqual([]);
    expect(String(r.checkResult)).toContain('mysql_version');
  });

  it.each([
    ['pause-task-unknown', /has no source or not exist/],
    ['query-status-unknown-task', /not exist/],
    ['operate-source-stop-busy', /stop-task/],
    ['operate-source-create-duplicate', /already exists/],
    ['master-down', /can't connect/],
  ])(
    "given failing %s (dmctl exits 0 or prints nothing on stdout), should report the failure in dmctl's words",
    (name, msg) => {
      const failures = dmctlFailures(parse(name));
      expect(failures.length).toBeGreaterThan(0);
      expect(failures.map((f) => f.msg).join(' ')).toMatch(msg);
    },
  );

  it('given a task paused twice, should treat the second pause as success (idempotent)', () => {
    expect(dmctlFailures(parse('pause-task-again'))).toEqual([]);
  });

  it('given query-status of a paused task and of a relay source, should expose stage, GTIDs and relay', () => {
    const paused = parse('query-status-paused') as {
      sources: Array<{ subTaskStatus: Array<{ stage: string; sync: { syncerBinlogGtid: string } }> }>;
    };
    expect(paused.sources[0]!.subTaskStatus[0]!.stage).toBe('Paused');
    expect(paused.sources[0]!.subTaskStatus[0]!.sync.syncerBinlogGtid).toMatch(/^[0-9a-f-]{36}:1-\d+$/);
    const relay = parse('query-status-relay') as {
      sources: Array<{ sourceStatus: { relayStatus: { relaySubDir: string; relayCatchUpMaster: boolean } } }>;
    };
    expect(relay.sources[0]!.sourceStatus.relayStatus.relaySubDir).toMatch(/\.000001$/);
  });

  it('given a failure inside a batch, should name the task', () => {
    const r = { result: true, msg: '', tasks: [{ result: false, msg: 'boom', task: 't1', op: 'Pause' }] };
    expect(dmctlFailures(r)).toEqual([{ scope: 'task', name: 't1', msg: 'boom' }]);
  });
});
