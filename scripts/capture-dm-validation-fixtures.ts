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
import { execa } from 'execa';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from '../test/sandbox/stack.js';
import { writeRows } from '../test/sandbox/topology.js';
import { restartTaskWithValidation } from '../test/sandbox/write-rate.js';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '../test/fixtures/dmctl');
await mkdir(out, { recursive: true });
const stack = await startStack({ mysql: { replicas: 1 }, dm: true, log: (l) => console.log(l) });
try {
  const dm = stack.dm!;
  const task = stack.taskName!;
  const source = stack.sourceId!;
  const capture = async (name: string, args: string[]) => {
    const r = await execa(dm.dmctlPath, [`--master-addr=${dm.masterAddr}`, ...args], { reject: false });
    // fixtures must not depend on this run's temporary paths and ports
    const clean = (t: string) => t.replaceAll(dm.dir, '/tmp/dm').replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT');
    const fixture = { args: args.map(clean), exitCode: r.exitCode, stdout: clean(r.stdout), stderr: clean(r.stderr) };
    await writeFile(join(out, `${name}.json`), `${JSON.stringify(fixture, null, 2)}\n`);
    console.log(`captured ${name} (exit ${r.exitCode})`);
  };
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
