/**
 * No plaintext config left behind (a crash must not leave a password on disk): the files that carry a
 * password for a moment live in the worker's private directory, one
 * sub-directory per worker process (named by host, boot id, PID namespace
 * and pid), and a worker that starts removes what killed workers left
 * there. Real worker processes and a real SIGKILL; the
 * leftover file is planted in the killed worker's own sub-directory, where
 * operate-source create writes it, because the window in which a kill
 * leaves one behind (dmctl reading it) is milliseconds wide.
 */
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

let temporal: TemporalDevServer;
let dir: string;
let worker: WorkerProcess | undefined;
beforeAll(async () => {
  [temporal, dir] = await Promise.all([startTemporal(), mkdtemp(join(tmpdir(), 'dsw-private-'))]);
}, 120_000);
afterAll(async () => {
  await worker?.stop();
  await temporal?.destroy();
  await rm(dir, { recursive: true, force: true });
});

describe("the worker's private directory", () => {
  it('given a worker killed with SIGKILL while a source config with a password was on disk, should remove it when a worker starts again', async () => {
    const root = join(dir, 'private');
    const configYaml = `taskQueue: private-dir-test\nprivateDir: ${root}\ndm:\n  clusters:\n    default: { masterAddr: "127.0.0.1:1", dmctl: /bin/true }\n`;
    worker = await startWorkerProcess({ configYaml, temporalAddress: temporal.address });
    const first = worker.pid!;
    const named = (pid: number): RegExp => new RegExp(`^host=[^,]+,boot=[0-9a-f-]+,pidns=\\d+,pid=${pid}$`);
    const [firstDir] = await readdir(root);
    expect(await readdir(root)).toHaveLength(1);
    expect(firstDir).toMatch(named(first));
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    // what operate-source create writes, as the kill found it
    await writeFile(
      join(root, firstDir!, 'source-mysql-replica-01.yaml'),
      'from: {host: db-a, user: dm, password: s3cret}\n',
      { mode: 0o600 },
    );
    await worker.kill9();
    await worker.start();
    expect(worker.pid).not.toBe(first);
    const [secondDir] = await readdir(root);
    expect(await readdir(root)).toHaveLength(1);
    expect(secondDir).toMatch(named(worker.pid!));
    expect(await readdir(join(root, secondDir!))).toEqual(['owner.sock']); // the socket it lives by, no file
    expect(await worker.log()).toMatch(new RegExp(`removed what stopped workers left in .*: ${firstDir}`));
  });
});
