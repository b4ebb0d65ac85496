/**
 * A stand-in for a worker that holds its private directory (what worker/worker.ts does at start): prepares
 * it under the root given as the first argument, writes there the file operate-source create writes, prints
 * the directory and stays alive until killed. The tests run it in a PID namespace of its own (unshare) to be
 * a worker in another container.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { preparePrivateDir } from '../../worker/private-dir.js';

const { dir } = await preparePrivateDir(process.argv[2]!);
await writeFile(join(dir, 'source-mysql-replica-01.yaml'), 'from: {host: db-a, user: dm, password: s3cret}\n', {
  mode: 0o600,
});
process.stdout.write(`${dir}\n`);
setInterval(() => {}, 1 << 30);
