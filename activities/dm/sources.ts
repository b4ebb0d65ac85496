/**
 * DM sources: what DM knows of them (state, config, the worker bound to one,
 * the binlog readers an upstream sees), saving their configurations, and
 * replacing one (stop, create reading elsewhere) for the address switch.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { failure, SwitchErrorType } from '../../common/switch/errors.js';
import { yamlSecretPaths } from '../../common/switch/input.js';
import type {
  DmBinlogReaders,
  Endpoint,
  Flavor,
  SavedConfigs,
  SavedTaskConfig,
  SourceEndpoint,
  SourceState,
} from '../../common/switch/types.js';
import type { DmContext } from './context.js';
import { checked } from './dmctl.js';
import { dmctlFailures, parseSourceConfig, sourceIdsOf, workersOf } from './parse.js';
import { withPrivateFile } from './private-file.js';
import { describeTaskConfig } from './task-config.js';

export function sourceActivities(ctx: DmContext) {
  const { dmctl } = ctx;
  return {
    /** The source's configuration and status: GTID mode, relay, every task with its stage and syncerBinlogGtid. */
    async dmSourceState(req: { dmCluster: string; sourceId: string }): Promise<SourceState> {
      return ctx.sourceState(req.dmCluster, req.sourceId);
    },

    /** The DM clusters this worker is configured for. */
    async dmClusters(): Promise<string[]> {
      return Object.keys(ctx.clusters);
    },

    /** Every source of a cluster and what its source config reads (for draining a host). */
    async dmListSources(req: {
      dmCluster: string;
    }): Promise<Array<{ sourceId: string; from: Endpoint; flavor: Flavor }>> {
      const ids = sourceIdsOf(checked('operate-source show', await dmctl(req.dmCluster, ['operate-source', 'show'])));
      const out: Array<{ sourceId: string; from: Endpoint; flavor: Flavor }> = [];
      for (const sourceId of ids) {
        const config = await dmctl(req.dmCluster, ['config', 'source', sourceId]);
        // removed between the two calls: not a reader
        if (config.result !== true || typeof config.cfg !== 'string') continue;
        const cfg = parseSourceConfig(config.cfg);
        const from = { host: cfg.from?.host ?? '', port: Number(cfg.from?.port ?? 3306) };
        out.push({ sourceId, from, flavor: cfg.flavor === 'mariadb' ? 'mariadb' : 'mysql' });
      }
      return out;
    },

    /**
     * How DM's own binlog readers show in an upstream's SHOW REPLICAS: each
     * registers as a replica with its dm-worker's name as host (cut at 60
     * characters) and its source's `server-id`. Discovery passes those over.
     */
    async dmBinlogReaders(req: { dmCluster: string }): Promise<DmBinlogReaders> {
      const workers = workersOf(
        checked('list-member --worker', await dmctl(req.dmCluster, ['list-member', '--worker'])),
      );
      const ids = sourceIdsOf(checked('operate-source show', await dmctl(req.dmCluster, ['operate-source', 'show'])));
      const serverIds: Array<{ sourceId: string; serverId: number }> = [];
      for (const sourceId of ids) {
        const config = await dmctl(req.dmCluster, ['config', 'source', sourceId]);
        if (config.result !== true || typeof config.cfg !== 'string') continue;
        const id = Number(parseSourceConfig(config.cfg)['server-id'] ?? 0);
        if (id > 0) serverIds.push({ sourceId, serverId: id });
      }
      return { workerNames: workers.map((w) => w.name).filter(Boolean), serverIds };
    },

    /**
     * As dmSourceState, but null when DM does not know the source (it was removed, e.g. by hand halfway through a
     * switch).
     */
    async dmFindSource(req: { dmCluster: string; sourceId: string }): Promise<SourceState | null> {
      return ctx.sourceState(req.dmCluster, req.sourceId, true);
    },

    /**
     * The dm-worker the source is bound to and the address it advertises
     * (`list-member --worker`): the host whose binlog dump connections are
     * DM's. Null when no worker is bound.
     */
    async dmSourceWorker(req: {
      dmCluster: string;
      sourceId: string;
    }): Promise<{ name: string; addr: string; hosts: string[] } | null> {
      const workers = workersOf(
        checked('list-member --worker', await dmctl(req.dmCluster, ['list-member', '--worker'])),
      );
      const w = workers.find((x) => x.source === req.sourceId);
      if (!w) return null;
      const configured = ctx.cluster(req.dmCluster).workerHosts?.[w.name];
      return {
        name: w.name,
        addr: w.addr,
        hosts: configured ?? [w.addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')],
      };
    },

    /**
     * What the address switch needs to go back: the source config and each
     * task's config, as DM shows them (passwords masked), plus the task
     * configs given by hand (`given`, for tasks already stopped), checked. A
     * source DM no longer knows gives `source: null`; tasks DM no longer
     * knows are left out.
     */
    async dmSaveConfigs(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      given?: Record<string, string>;
    }): Promise<SavedConfigs> {
      const src = await dmctl(req.dmCluster, ['config', 'source', req.sourceId]);
      const tasks: SavedTaskConfig[] = Object.entries(req.given ?? {}).map(([name, yaml]) =>
        describeTaskConfig(name, yaml),
      );
      for (const name of req.tasks) {
        const answer = await dmctl(req.dmCluster, ['config', 'task', name]);
        if (answer.result === true && typeof answer.cfg === 'string') tasks.push(describeTaskConfig(name, answer.cfg));
        else if (!/task not found/i.test(answer.msg ?? '')) checked(`config task ${name}`, answer);
      }
      const source = src.result === true && typeof src.cfg === 'string' ? src.cfg : null;
      // what is returned is kept in workflow history: DM masks passwords, not every secret
      const secrets = [
        ...(source ? yamlSecretPaths(source).map((p) => `source ${req.sourceId}: ${p}`) : []),
        ...tasks.flatMap((t) => yamlSecretPaths(t.yaml).map((p) => `task ${t.name}: ${p}`)),
      ];
      if (secrets.length) {
        throw failure(
          `DM's configuration carries secrets it does not mask (${secrets.join('; ')}); ` +
            'the switch keeps these configurations in its history, so it stops here and changes nothing. ' +
            'Take them out of the configuration (TLS keys as files with ssl-key/ssl-cert/ssl-ca rather than ' +
            "ssl-*-base64; storage credentials from the dm-worker's environment), then start it again",
          SwitchErrorType.PreflightFailed,
        );
      }
      return { source, tasks };
    },

    /** `operate-source stop`. Idempotent: a source DM does not know is success (returns false). */
    async dmStopSource(req: { dmCluster: string; sourceId: string }): Promise<boolean> {
      const answer = await dmctl(req.dmCluster, ['operate-source', 'stop', req.sourceId]);
      const failures = dmctlFailures(answer);
      if (failures.length > 0 && failures.every((f) => /not exist/i.test(f.msg))) return false;
      checked(`operate-source stop ${req.sourceId}`, answer);
      return true;
    },

    /**
     * `operate-source create` the source reading from `from`: the saved
     * config (or a minimal one) with the new host and port, `enable-gtid:
     * true` and the `from` user and password resolved here from a credential
     * reference. The file is owner-only and removed after use. Idempotent: a
     * source that already reads from `from` is success; one that reads from
     * elsewhere is an error. `enableRelay` overrides the saved config's
     * `enable-relay`: a source created with relay on starts its relay at once,
     * with no task to take a position from, so at the new instance's current
     * binlog file, past what the stopped tasks still need.
     */
    async dmCreateSource(req: {
      dmCluster: string;
      sourceId: string;
      flavor: Flavor;
      baseConfig: string | null;
      from: SourceEndpoint;
      enableRelay?: boolean;
    }): Promise<'created' | 'already'> {
      const existing = await dmctl(req.dmCluster, ['config', 'source', req.sourceId]);
      if (existing.result === true && typeof existing.cfg === 'string') {
        const from = parseSourceConfig(existing.cfg).from;
        if (from?.host === req.from.host && Number(from?.port) === req.from.port) return 'already';
        throw failure(
          `source ${req.sourceId} already exists and reads ${from?.host}:${from?.port}, ` +
            `not ${req.from.host}:${req.from.port}: ` +
            `remove it first (dmctl operate-source stop ${req.sourceId}) if it should be replaced`,
          SwitchErrorType.DmOperationFailed,
        );
      }
      const purpose = `from of DM source ${req.sourceId}`;
      const creds = await ctx.credentials(req.from.credentials, { host: req.from.host, port: req.from.port, purpose });
      const base = (req.baseConfig ? parseYaml(req.baseConfig) : {}) as Record<string, unknown> & {
        from?: Record<string, unknown>;
      };
      const config = {
        ...base,
        'source-id': req.sourceId,
        'enable-gtid': true,
        // relay is started later, once the tasks exist, so that DM starts it from their checkpoints
        ...(req.enableRelay === undefined ? {} : { 'enable-relay': req.enableRelay }),
        flavor: req.flavor,
        from: {
          ...(base.from ?? {}),
          host: req.from.host,
          port: req.from.port,
          user: creds.user,
          password: creds.password,
        },
      };
      return withPrivateFile(
        await ctx.privateDir(),
        `source-${req.sourceId}.yaml`,
        stringifyYaml(config),
        async (path) => {
          checked(
            `operate-source create ${req.sourceId}`,
            await dmctl(req.dmCluster, ['operate-source', 'create', path]),
          );
          return 'created' as const;
        },
      );
    },
  };
}
