import { describe, expect, it } from 'vitest';
import type { LogEntry } from '@temporalio/worker';
import { consoleLogLine, logDetails } from '../../worker/console-log.js';

const at = BigInt(Date.parse('2026-12-07T12:13:01.250Z')) * 1_000_000n;
const entry = (message: string, meta: Record<string, unknown> = {}, level: LogEntry['level'] = 'INFO'): LogEntry => ({
  level,
  message,
  meta,
  timestampNanos: at,
});

describe("consoleLogLine: the worker's log on npm start's console", () => {
  it('given an activity event with the SDK fields, should be one line: the switch, the activity, our fields', () => {
    const line = consoleLogLine(
      entry('activity done', {
        sdkComponent: 'activity',
        isLocal: false,
        attempt: 1,
        namespace: 'default',
        taskToken: 'CiQ5ZjZmYzE2Ny1hYmNkLTQ3YjgtOTRjZi0xMjM0NTY3ODkwYWISG2RtLXN3aXRjaC9kZWZhdWx0L215c3FsLXJlcGxpY2E',
        workflowId: 'dm-switch/default/mysql-replica-01',
        workflowRunId: '0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
        workflowType: 'vipSwitch',
        activityId: '7',
        activityType: 'pauseTasks',
        taskQueue: 'dm-switch',
        sourceId: 'mysql-replica-01',
        durationMs: 412,
      }),
    );
    expect(line).toBe(
      '12:13:01.250 INFO  activity done [dm-switch/default/mysql-replica-01 pauseTasks] ' +
        'sourceId=mysql-replica-01 durationMs=412',
    );
  });

  it('given a retried attempt and an error with spaces, should keep the attempt and quote the error', () => {
    const line = consoleLogLine(
      entry('activity failed', { attempt: 3, error: 'connect ECONNREFUSED 198.51.100.19:3306' }, 'WARN'),
    );
    expect(line).toBe('12:13:01.250 WARN  activity failed attempt=3 error="connect ECONNREFUSED 198.51.100.19:3306"');
  });

  it("given webpack's statistics of the workflow bundle, should leave them out", () => {
    const stats =
      'asset workflow-bundle-69c68192e1ad39acc1d3.js 4.65 MiB [emitted] [immutable] (name: main)\n' +
      'orphan modules 473 KiB [orphan] 77 modules\n' +
      'webpack 5.112.2 compiled successfully in 4966 ms';
    expect(consoleLogLine(entry(stats, { sdkComponent: 'worker', taskQueue: 'dm-switch' }))).toBeUndefined();
    expect(consoleLogLine(entry(stats, {}, 'ERROR'))).toMatch(/^12:13:01\.250 ERROR asset workflow-bundle.* \(2 more/);
  });

  it('given a message of several lines, should print its first and say how to see the rest', () => {
    expect(consoleLogLine(entry('first\nsecond\nthird'))).toBe(
      '12:13:01.250 INFO  first (2 more lines: DM_SWITCH_LOG_DETAILS=1)',
    );
  });

  it('given DM_SWITCH_LOG_DETAILS, should read 1/true as on and 0/false/empty as off', () => {
    expect(
      [undefined, '', '0', 'false', '1', 'true', 'yes'].map((v) => logDetails({ DM_SWITCH_LOG_DETAILS: v })),
    ).toEqual([false, false, false, false, true, true, true]);
  });
});
