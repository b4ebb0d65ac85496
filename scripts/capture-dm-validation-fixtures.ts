/**
 * Captures what the real dmctl prints about a task's continuous validation, into test/fixtures/dmctl/ (same format
 * as scripts/capture-dm-fixtures.ts): `query-status -s <source>` with the task's validator Running (started with the
 * task: `validators:` in its configuration) and after `validation stop` (Stopped), and `validation status <task>`
 * for both. A VIP switch's preflight reads the validator's stage from the first.
 *
 *   npx tsx scripts/capture-dm-validation-fixtures.ts
 *
 * Rerun after changing the pinned DM version (build/dm/go.mod).
 */
import { dmctlCapture } from './lib/dm-fixtures.js';
import { startStack } from '../test/sandbox/stack.js';
import { writeRows } from '../test/sandbox/topology.js';
import { restartTaskWithValidation } from '../test/sandbox/write-rate.js';

const stack = await startStack({ mysql: { replicas: 1 }, dm: true, log: (l) => console.log(l) });
try {
  const dm = stack.dm!;
  const task = stack.taskName!;
  const source = stack.sourceId!;
  const capture = await dmctlCapture(dm);
  const mode = await restartTaskWithValidation(dm, task, source, stack.downstream!, 'fast');
  if (mode !== 'fast') throw new Error(`config task shows validation mode ${mode}`);
  await writeRows(stack.topology!.primary, 5);
  // the validator starts with the task's sync unit: wait until query-status reports it
  for (let i = 0; i < 60; i++) {
    if (JSON.stringify(await dm.ctl(['query-status', '-s', source])).includes('"validatorBinlogGtid"')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await capture('query-status-validator-running', ['query-status', '-s', source]);
  await capture('validation-status-running', ['validation', 'status', task]);
  await capture('validation-stop', ['validation', 'stop', task]);
  await capture('query-status-validator-stopped', ['query-status', '-s', source]);
  await capture('validation-status-stopped', ['validation', 'status', task]);
} finally {
  await stack.stop();
}
