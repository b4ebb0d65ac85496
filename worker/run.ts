/**
 * The worker process's life: configuration, runtime, the search-attribute
 * check, then run until a signal. worker/main.ts runs it as operators do;
 * the crash tests run it with an extra activity interceptor.
 */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Runtime } from '@temporalio/worker';
import { checkDmctl, ConfigError, loadWorkerConfig } from './config.js';
import { dataConverterFromEnv } from '../client/codec.js';
import { SwitchGauges, switchGaugeOptions } from './metrics.js';
import { ReadinessGauges } from './readiness-metrics.js';
import { installRuntime } from './observability.js';
import { checkSearchAttributes } from './search-attributes.js';
import { stopTracing } from './tracing.js';
import { createWorker, type WorkerExtras } from './worker.js';

export async function runWorkerProcess(extras: WorkerExtras = {}): Promise<void> {
  const path = process.env.DM_SWITCH_CONFIG ?? 'dm-switch.yaml';
  try {
    const config = await loadWorkerConfig(path);
    await checkDmctl(config);
    const gaugeOptions = switchGaugeOptions();
    const { metrics } = installRuntime();
    const connect = loadClientConnectConfig();
    const namespace = connect.namespace ?? 'default';
    const sa = await checkSearchAttributes(connect.connectionOptions, namespace);
    if (sa.ok === false) {
      console.error(
        `dm-switch worker: the namespace ${namespace} lacks the search attributes ` +
          `${sa.missing.join(', ')} that switches keep; register them first:\n  ${sa.fix}`,
      );
      process.exit(2);
    }
    if (sa.ok === 'unknown')
      Runtime.instance().logger.warn(
        `dm-switch worker: could not check the search attributes of namespace ` +
          `${namespace} (${sa.reason}); switches fail their workflow tasks if ` +
          `DmSwitchSource, DmSwitchCluster, DmSwitchKind, DmSwitchPhase and DmSwitchOutcome are not registered`,
      );
    const { worker, connection } = await createWorker(
      config,
      connect.connectionOptions,
      namespace,
      process.env,
      extras,
    );
    Runtime.instance().logger.info(
      `dm-switch worker: task queue "${config.taskQueue}" on ` +
        `${String(connect.connectionOptions.address ?? 'localhost:7233')} namespace ` +
        `${namespace}${
          config.deployment
            ? `; deployment ${worker.options.workerDeploymentOptions?.version.deploymentName} ` +
              `version ${worker.options.workerDeploymentOptions?.version.buildId} (switches pinned)`
            : ''
        }; ` +
        (`DM clusters ${Object.keys(config.dm.clusters).join(', ')}` +
          `${metrics ? `; Prometheus metrics on http://${metrics}/metrics` : ''}`),
    );
    // the switches' current state as gauges, read from Temporal (worker/metrics.ts)
    let gauges: SwitchGauges | undefined;
    let readiness: ReadinessGauges | undefined;
    let clientConnection: Connection | undefined;
    if (metrics) {
      clientConnection = await Connection.connect(connect.connectionOptions);
      const client = new Client({
        connection: clientConnection,
        namespace,
        dataConverter: dataConverterFromEnv(process.env),
      });
      gauges = new SwitchGauges(client, Runtime.instance().metricMeter, {
        ...gaugeOptions,
        taskQueue: config.taskQueue,
        warn: (m) => Runtime.instance().logger.warn(m),
      }).start();
      // the readiness drills' latest table (worker/readiness-metrics.ts)
      readiness = new ReadinessGauges(client, Runtime.instance().metricMeter, {
        intervalMs: gaugeOptions.intervalMs,
        warn: (m) => Runtime.instance().logger.warn(m),
      }).start();
    }
    try {
      await worker.run();
    } finally {
      await gauges?.stop();
      await readiness?.stop();
      await clientConnection?.close();
    }
    await connection.close();
    // the spans still buffered go out before the process ends
    await stopTracing();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(`dm-switch worker: ${e.message}`);
      process.exit(2);
    }
    throw e;
  }
}
