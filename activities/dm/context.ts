/**
 * What every group of DM activities shares, made once per worker: the
 * clusters and their dmctl, credentials for the files DM reads, the private
 * directory those files go in, and the two reads most activities start from
 * (a source's state, a task's subtasks).
 */
import { failure, SwitchErrorType } from '../../common/switch/errors.js';
import type { SavedTaskConfig, SourceState, TaskSubtask } from '../../common/switch/types.js';
import type { CredentialResolver, Credentials, Destination } from '../mysql.js';
import { checked, clusterOf, runDmctl, type DmClusterConfig } from './dmctl.js';
import { parseSourceConfig, sourceStateOf, subtasksOf, type DmctlJson } from './parse.js';
import { privateDirectory } from './private-file.js';
import { targetDatabase } from './task-config.js';

export interface DmContext {
  clusters: Record<string, DmClusterConfig>;
  /** The configuration of a cluster the worker knows; InvalidInput for one it does not. */
  cluster(name: string): DmClusterConfig;
  /** Runs dmctl against a cluster; returns its parsed answer (see dmctl.ts for what throws). */
  dmctl(dmCluster: string, args: string[]): Promise<DmctlJson>;
  /** A credential, for `to` only. */
  credentials(reference: string, to: Destination): Promise<Credentials>;
  /** The downstream login of a task goes only where its credential belongs: the task's target-database. */
  downstreamCredentials(reference: string, task: SavedTaskConfig): Promise<Credentials>;
  /** Where files that carry a password are written (private-file.ts). */
  privateDir(): Promise<string>;
  /** The source's configuration and status; PreflightFailed when DM does not know it (null with `allowMissing`). */
  sourceState(dmCluster: string, sourceId: string): Promise<SourceState>;
  sourceState(dmCluster: string, sourceId: string, allowMissing: true): Promise<SourceState | null>;
  /** Every subtask of a task, on every source it reads (`query-status <task>`). */
  taskSubtasks(dmCluster: string, task: string): Promise<TaskSubtask[]>;
}

export function createDmContext(
  clusters: Record<string, DmClusterConfig>,
  resolveCredentials?: CredentialResolver,
  options: { privateDir?: string } = {},
): DmContext {
  const cluster = (name: string) => clusterOf(clusters, name);
  const dmctl = (dmCluster: string, args: string[]) => runDmctl(cluster(dmCluster), dmCluster, args);
  const credentials = async (reference: string, to: Destination) => {
    if (!resolveCredentials) {
      throw failure('this worker resolves no credentials for DM configurations', SwitchErrorType.InvalidInput);
    }
    return resolveCredentials(reference, to);
  };

  async function sourceState(dmCluster: string, sourceId: string): Promise<SourceState>;
  async function sourceState(dmCluster: string, sourceId: string, allowMissing: true): Promise<SourceState | null>;
  async function sourceState(dmCluster: string, sourceId: string, allowMissing = false): Promise<SourceState | null> {
    // both reads at once: query-status is asked before the config is in (each is a dmctl process of its own, and the
    // waits of a freeze read the source every 0.1 s); its answer is judged only once the config says the source exists
    const answered = dmctl(dmCluster, ['query-status', '-s', sourceId]);
    void answered.catch(() => undefined);
    const config = await dmctl(dmCluster, ['config', 'source', sourceId]);
    if (config.result !== true || typeof config.cfg !== 'string') {
      if (allowMissing && /not (exist|found)/i.test(config.msg ?? '')) return null;
      throw failure(
        `DM source "${sourceId}" not found in cluster "${dmCluster}": ` +
          `${config.msg || 'config source returned nothing'}. ` +
          'Check the source id with `dmctl operate-source show`.',
        SwitchErrorType.SourceNotFound,
      );
    }
    const cfg = parseSourceConfig(config.cfg);
    const status = checked('query-status', await answered);
    return sourceStateOf(sourceId, cfg, status);
  }

  return {
    clusters,
    cluster,
    dmctl,
    credentials,
    downstreamCredentials(reference, task) {
      const target = targetDatabase(task);
      const purpose = `target-database of DM task ${task.name}`;
      return credentials(reference, { host: target.host, port: target.port, purpose });
    },
    privateDir: privateDirectory(options.privateDir),
    sourceState,
    async taskSubtasks(dmCluster, task) {
      return subtasksOf(task, checked(`query-status ${task}`, await dmctl(dmCluster, ['query-status', task])));
    },
  };
}
