/**
 * The alert webhook process:
 *
 *   DM_SWITCH_WEBHOOK_POLICY=/etc/dm-switch/webhook.yaml DM_SWITCH_WEBHOOK_LISTEN=0.0.0.0:9095 \
 *     node --import tsx client/webhook-main.ts
 *
 * Temporal connection through @temporalio/envconfig, as for the worker.
 */
import { Client, Connection } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { dataConverterFromEnv } from './codec.js';
import { loadPolicy, PolicyError } from './policy.js';
import { createWebhook, loadSecrets } from './webhook.js';

try {
  const policy = await loadPolicy(process.env.DM_SWITCH_WEBHOOK_POLICY ?? 'webhook.yaml');
  const secrets = await loadSecrets(policy);
  const config = loadClientConnectConfig();
  const client = new Client({
    connection: await Connection.connect(config.connectionOptions),
    namespace: config.namespace ?? 'default',
    dataConverter: dataConverterFromEnv(),
  });
  const [host, port] = (process.env.DM_SWITCH_WEBHOOK_LISTEN ?? '127.0.0.1:9095').split(/:(?=\d+$)/);
  const app = createWebhook({ client, policy, secrets, logger: true });
  await app.listen({ host, port: Number(port) });
  const stop = async () => {
    await app.close();
    await client.connection.close();
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
} catch (e) {
  console.error(`dm-switch webhook: ${(e as Error).message}`);
  process.exit(e instanceof PolicyError ? 2 : 1);
}
