/** Builds every activity once, with its dependencies injected from the configuration. */
import { createDmActivities } from '../activities/dm/index.js';
import { createMysqlActivities } from '../activities/mysql.js';
import { createNetActivities } from '../activities/net.js';
import { createNotifyActivities } from '../activities/notify.js';
import { createHostMarkActivities } from '../activities/host-marks.js';
import { createTemporalActivities } from '../activities/temporal.js';
import { CommandVipProvider } from '../activities/vip-command.js';
import { createVipActivities, type VipProvider } from '../activities/vip.js';
import type { WorkerConfig } from './config.js';
import { credentialResolver } from './credentials.js';
import { notifierFromConfig } from './notifier.js';

export function buildActivities(config: WorkerConfig, env: NodeJS.ProcessEnv = process.env, privateDir?: string) {
  const providers: Record<string, VipProvider> = {};
  for (const [name, p] of Object.entries(config.vip.providers)) {
    providers[name] = new CommandVipProvider({
      name,
      locate: p.locate,
      move: p.move,
      ...(p.check ? { check: p.check } : {}),
      env: p.env,
      passEnv: p.passEnv,
      timeoutMs: p.timeoutMs,
    });
  }
  const credentials = credentialResolver(config.credentials, env);
  return {
    ...createDmActivities(config.dm.clusters, credentials, privateDir ? { privateDir } : {}),
    ...createMysqlActivities(credentials),
    ...createVipActivities(providers),
    ...createNetActivities(),
    ...createNotifyActivities(notifierFromConfig(config.notify, env)),
    ...createTemporalActivities(),
    ...createHostMarkActivities(),
  };
}
