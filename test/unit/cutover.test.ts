/**
 * dmRequestCheckpointFlushAt on DM's recorded answers to `dmctl validation update <task> -s <source>
 * --cutover-binlog-gtid <set>` (the sandbox's DM, tiflow 0ea757eae77a): dmctl's top-level result is true even when the
 * source refuses, so the activity reads the source's answer too. The dmctl here is a stand-in that replays them.
 */
import { describe, expect, it } from 'vitest';
import { cutoverActivities } from '../../activities/dm/cutover.js';
import type { DmContext } from '../../activities/dm/context.js';
import type { DmctlJson } from '../../activities/dm/parse.js';

const SET = '4b5bae17-f26f-11f1-a7ac-dee7273f09d7:1-685';
const TAKEN = {
  result: true,
  msg: '',
  sources: [{ result: true, msg: '', source: 'mysql-replica-01', worker: 'worker1' }],
};
const NO_VALIDATOR = {
  result: true,
  msg: '',
  sources: [
    {
      result: false,
      msg:
        '[code=43006:class=validator:scope=not-set:level=medium], Message: validator not found for task ' +
        'app-to-downstream with source mysql-replica-01',
      source: 'mysql-replica-01',
      worker: '',
    },
  ],
};

function replaying(answers: Record<string, DmctlJson | Error>) {
  const asked: string[][] = [];
  const ctx = {
    async dmctl(_cluster: string, args: string[]) {
      asked.push(args);
      const a = answers[args[2] ?? ''];
      if (a instanceof Error) throw a;
      return a ?? { result: false, msg: 'unknown task' };
    },
  } as unknown as DmContext;
  return { asked, run: cutoverActivities(ctx).dmRequestCheckpointFlushAt };
}

describe('dmRequestCheckpointFlushAt', () => {
  it("given DM's answers for a task with a validator, one without, and dmctl failing, should sort each and not throw", async () => {
    const { asked, run } = replaying({
      validated: TAKEN,
      plain: NO_VALIDATOR,
      gone: new Error('dmctl validation against 127.0.0.1:8261 failed: connection refused'),
    });
    const r = await run({
      dmCluster: 'c',
      sourceId: 'mysql-replica-01',
      tasks: ['validated', 'plain', 'gone'],
      gtidSet: SET,
    });
    expect(r).toEqual([
      { task: 'validated', outcome: 'set', words: '' },
      { task: 'plain', outcome: 'no-validator', words: NO_VALIDATOR.sources[0]!.msg },
      { task: 'gone', outcome: 'refused', words: 'dmctl validation against 127.0.0.1:8261 failed: connection refused' },
    ]);
    expect(asked[0]).toEqual([
      'validation',
      'update',
      'validated',
      '-s',
      'mysql-replica-01',
      '--cutover-binlog-gtid',
      SET,
    ]);
  });
});
