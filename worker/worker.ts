/**
 * Creates the worker: the switch workflows and the activities built from
 * the configuration, on a connection from @temporalio/envconfig.
 */
import { NativeConnection, Runtime, Worker, type ActivityInterceptorsFactory, type NativeConnectionOptions } from '@temporalio/worker';
import { dataConverterFromEnv } from '../client/codec.js';
import { buildActivities } from './activities.js';
import type { WorkerConfig } from './config.js';
import { keepAliveInterceptor } from './heartbeat.js';
import { activityLogInterceptors } from './observability.js';
import { defaultPrivateDir, preparePrivateDir } from './private-dir.js';
import { workflowInterceptorsPath, workflowsPath } from './workflows-path.js';

export { workflowsPath };

/** Extra activity interceptors, innermost (next to the activity): the tests' fault injection (test/sandbox/crash-after.ts). */
export interface WorkerExtras {
  activityInterceptors?: ActivityInterceptorsFactory[];
}

export async function createWorker(config: WorkerConfig, connectionOptions: NativeConnectionOptions, namespace = 'default', env: NodeJS.ProcessEnv = process.env, extras: WorkerExtras = {}): Promise<{ worker: Worker; connection: NativeConnection }> {
  // files that carry a password for a moment: an owner-only directory, cleaned of what killed workers left
  const priv = await preparePrivateDir(config.privateDir ?? defaultPrivateDir(env));
  if (priv.removed.length) Runtime.instance().logger.info(`dm-switch worker: removed what stopped workers left in ${priv.dir}/..: ${priv.removed.join(', ')}`);
  const connection = await NativeConnection.connect(connectionOptions);
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: config.taskQueue,
    workflowsPath,
    activities: buildActivities(config, env, priv.dir),
    dataConverter: dataConverterFromEnv(env),
    interceptors: { activity: [(ctx) => ({ inbound: keepAliveInterceptor(ctx) }), activityLogInterceptors, ...(extras.activityInterceptors ?? [])], workflowModules: [workflowInterceptorsPath] },
  });
  return { worker, connection };
}
