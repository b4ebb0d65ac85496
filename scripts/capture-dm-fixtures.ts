/**
 * Captures what the real dmctl prints for every command the DM adapter uses,
 * successes and failures, into test/fixtures/dmctl/ * adapter's unit tests: test/fixtures/dmctl/<case>.json holds the
 * arguments,
 * exit code, stdout and stderr, stdout kept raw (some of it is not valid JSON).
 *
 *   npx tsx scripts/capture-dm-fixtures.ts
 *
 * Rerun after changing the pinned DM version (build/dm/go.mod).
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createSource, sourceConfig } from '../test/sandbox/dm-setup.js';
import { dmctlCapture } from './lib/dm-fixtures.js';
import { startStack } from '../test/sandbox/stack.js';
import { writeRows, waitCaughtUp } from '../test/sandbox/topology.js';

const stack = await startStack({ mysql: { replicas: 2 }, dm: true, dmWorkers: 2, log: (l) => console.log(l) });
try {
  const dm = stack.dm!;
  const task = stack.taskName!;
  const source = stack.sourceId!;
  const capture = await dmctlCapture(dm);
  await writeRows(stack.topology!.primary, 5);
  await capture('query-status-task', ['query-status', task]);
  await capture('query-status-all', ['query-status']);
  await capture('query-status-source', ['query-status', '-s', source]);
  await capture('config-task', ['config', 'task', task]);
  await capture('config-source', ['config', 'source', source]);
  await capture('operate-source-show', ['operate-source', 'show', '-s', source]);
  await capture('pause-task', ['pause-task', task]);
  await capture('query-status-paused', ['query-status', task]);
  await capture('pause-task-again', ['pause-task', task]);
  await capture('resume-task', ['resume-task', task]);
  await capture('pause-task-unknown', ['pause-task', 'no-such-task']);
  await capture('query-status-unknown-task', ['query-status', 'no-such-task']);
  await capture('stop-task', ['stop-task', task]);
  await capture('query-status-no-task', ['query-status', '-s', source]);
  await capture('start-task', ['start-task', join(dm.dir, 'configs', `task-${task}.yaml`)]);
  await capture('operate-source-stop-busy', ['operate-source', 'stop', source]);

  // a second source with relay on, on the other replica
  const relayUpstream = stack.topology!.replicas[1]!;
  await waitCaughtUp(relayUpstream, stack.topology!.primary);
  await createSource(dm, 'mysql-replica-02', relayUpstream, { 'enable-relay': true });
  await writeRows(stack.topology!.primary, 3);
  for (let i = 0; i < 40; i++) {
    const r = await dm.ctl(['query-status', '-s', 'mysql-replica-02']);
    if (JSON.stringify(r).includes('"relaySubDir"')) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await capture('query-status-relay', ['query-status', '-s', 'mysql-replica-02']);
  await capture('operate-source-create-duplicate', [
    'operate-source',
    'create',
    await dm.file('dup.yaml', stringify(sourceConfig('mysql-replica-02', relayUpstream))),
  ]);
  await capture('stop-relay', ['stop-relay', '-s', 'mysql-replica-02']);
  await capture('operate-source-stop', ['operate-source', 'stop', 'mysql-replica-02']);
  await capture('operate-source-create', [
    'operate-source',
    'create',
    join(dm.dir, 'configs', 'source-mysql-replica-02.yaml'),
  ]);

  await dm.master.stop('SIGKILL');
  await capture('master-down', ['query-status']);
} finally {
  await stack.stop();
}
