/**
 * Creates the worker: the switch workflows and the activities built from
 * the configuration, on a connection from @temporalio/envconfig.
 */
import {
  NativeConnection,
  Runtime,
  Worker,
  type ActivityInterceptorsFactory,
  type NativeConnectionOptions,
  type WorkerDeploymentOptions,
} from '@temporalio/worker';
import { dataConverterFromEnv } from '../client/codec.js';
import { endpointOf } from '../activities/notify.js';
import { buildActivities } from './activities.js';
import { ConfigError, type WorkerConfig } from './config.js';
import { keepAliveInterceptor } from './heartbeat.js';
import { activityLogInterceptors } from './observability.js';
import { defaultPrivateDir, preparePrivateDir } from './private-dir.js';
import { startTracing, workerTracing } from './tracing.js';
import { workflowCode } from './workflow-bundle.js';
import { workflowsPath } from './workflows-path.js';

export { workflowsPath };

/**
 * Extra activity interceptors, innermost (next to the activity): the tests' fault injection
 * (test/sandbox/crash-after.ts).
 */
export interface WorkerExtras {
  activityInterceptors?: ActivityInterceptorsFactory[];
  /**
   * The workflow cache, for measuring what it would save (bench/pause-window.bench.ts compares a switch with and
   * without it); the worker itself keeps none, for the reason given at maxCachedWorkflows below.
   */
  maxCachedWorkflows?: number;
}

/**
 * The worker's deployment version (config `deployment`, DM_SWITCH_BUILD_ID
 * over its `buildId`), or undefined for an unversioned worker. Switches are
 * pinned: one finishes on the code it started with, however many versions
 * are deployed meanwhile (docs/deploying.md, "Upgrading the worker mid-switch").
 */
export function deploymentOptions(
  config: WorkerConfig,
  env: NodeJS.ProcessEnv = process.env,
): WorkerDeploymentOptions | undefined {
  if (!config.deployment) return undefined;
  const buildId = env.DM_SWITCH_BUILD_ID?.trim() || config.deployment.buildId;
  if (!buildId)
    throw new ConfigError(
      `deployment.buildId: give this worker's build ID (deployment ` +
        `${config.deployment.name}), in the configuration or as DM_SWITCH_BUILD_ID, e.g. ` +
        `the release or commit it runs`,
    );
  return {
    version: { deploymentName: config.deployment.name, buildId },
    useWorkerVersioning: true,
    defaultVersioningBehavior: 'PINNED',
  };
}

export async function createWorker(
  config: WorkerConfig,
  connectionOptions: NativeConnectionOptions,
  namespace = 'default',
  env: NodeJS.ProcessEnv = process.env,
  extras: WorkerExtras = {},
): Promise<{ worker: Worker; connection: NativeConnection }> {
  const workerDeploymentOptions = deploymentOptions(config, env);
  // files that carry a password for a moment: an owner-only directory, cleaned of what killed workers left
  const priv = await preparePrivateDir(config.privateDir ?? defaultPrivateDir(env));
  if (priv.removed.length)
    Runtime.instance().logger.info(
      `dm-switch worker: removed what stopped workers left in ${priv.dir}/..: ${priv.removed.join(', ')}`,
    );
  if (priv.kept.length)
    Runtime.instance().logger.info(
      `dm-switch worker: kept in ${priv.dir}/.. (a running worker's, or one whose owner cannot be proved gone: ` +
        `another host, boot or container, or a name an older dm-switch gave): ${priv.kept.join(', ')}`,
    );
  // built before connecting: a notifier whose URL or token cannot be had stops the worker here (ConfigError)
  const activities = buildActivities(config, env, priv.dir);
  const n = config.notify;
  if (n)
    Runtime.instance().logger.info(
      `dm-switch worker: gates and needs-operator are notified to ` +
        `${n.url ? endpointOf(n.url) : `the URL in ${n.urlEnv ?? n.urlFile}`} (format ${n.format})`,
    );
  // the workflows bundled now, or a bundle built beforehand from this code (DM_SWITCH_WORKFLOW_BUNDLE)
  const { workflowModules, ...code } = await workflowCode(env);
  // a switch as one trace, when OTEL_EXPORTER_OTLP_ENDPOINT names a collector (worker/tracing.ts); off otherwise
  const tracing = workerTracing(startTracing(env, 'dm-switch-worker'));
  const connection = await NativeConnection.connect(connectionOptions);
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue: config.taskQueue,
    ...(workerDeploymentOptions ? { workerDeploymentOptions } : {}),
    ...code,
    // No workflow cache: every workflow task replays the switch from its history. A cached switch can be
    // ahead of its task (a status query on a new worker applies a step's result before the task that carries
    // it): a gate then opens, and writes its commands, in an activation before the one that delivers an
    // approve/reject update, and the update is accepted after those commands. A replay delivers the update
    // ahead of that step's result (Core's order) and the SDK accepts it at once, before any workflow code
    // runs, so the acceptance lands ahead of the gate's commands: no workflow code can replay such a history
    // (test/workflow/gate-same-task.test.ts rebuilds both orders; the one a replay emits does replay: an
    // update's handler waits for its gate, workflows/approvals.ts). Signals have no such problem (held for a
    // gate that opens in their task). The price: a full replay per task, about 120 ms for a 111-event switch.
    maxCachedWorkflows: extras.maxCachedWorkflows ?? 0,
    activities,
    dataConverter: dataConverterFromEnv(env),
    sinks: tracing.sinks,
    interceptors: {
      activity: [
        ...tracing.activityInterceptors,
        (ctx) => ({ inbound: keepAliveInterceptor(ctx) }),
        activityLogInterceptors,
        ...(extras.activityInterceptors ?? []),
      ],
      workflowModules,
    },
  });
  return { worker, connection };
}
