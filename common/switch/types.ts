/**
 * The domain's shapes, as activities read them and workflows judge them: a
 * server's address, DM's view of a source and its tasks, what an instance
 * says about itself, a notification. Types only, so workflows import them
 * without pulling in what reads them (dmctl, mysql2, fetch).
 */
import type { Gate, SwitchStatus } from './status.js';

export type { Flavor } from '../gtid/types.js';
import type { Flavor } from '../gtid/types.js';
import type { Dialect } from '../mysql/dialect.js';

/** A server's address as DM, MySQL and the VIP see it. */
export interface Endpoint {
  host: string;
  port: number;
}

// ---- DM: a source, its relay and its tasks, as dmctl shows them

export interface SourceTask {
  name: string;
  /** New, Running, Paused, Stopped, Finished… as query-status says. */
  stage: string;
  /** Dump, Load, Sync. */
  unit: string;
  syncerBinlogGtid: string;
  masterBinlogGtid: string;
  /** The subtask's errors, in DM's words. */
  errors: string[];
  /**
   * The subtask's last result was a requested pause or stop (DM's
   * `result.isCanceled`), not an error: a task Paused with this false was
   * paused by DM because of an error, and DM's task checker may resume it.
   * Absent when the task has no result yet.
   */
  canceled?: boolean;
  /**
   * The subtask's validator (continuous validation), as query-status reports it in its `validation` part: its mode
   * (fast, full) and stage (Running, Stopped). Absent when the task has none (DM reports `validation: null`).
   */
  validation?: { mode: string; stage: string };
}

export interface RelayState {
  stage: string;
  relaySubDir: string;
  relayBinlogGtid: string;
  masterBinlogGtid: string;
  relayCatchUpMaster: boolean;
}

/** DM's binlog readers as an upstream lists them among its replicas: dm-worker names and sources' server ids. */
export interface DmBinlogReaders {
  workerNames: string[];
  serverIds: Array<{ sourceId: string; serverId: number }>;
}

export interface SourceState {
  sourceId: string;
  worker: string | null;
  enableGtid: boolean;
  enableRelay: boolean;
  flavor: Flavor;
  from: Endpoint & { user: string };
  relay: RelayState | null;
  tasks: SourceTask[];
}

/**
 * A configuration as DM shows it (`config task`, `config source`): YAML with
 * every password masked, so it may be kept in workflow history. Passwords
 * are put back from credential references on the worker when it is used.
 */
export interface SavedTaskConfig {
  name: string;
  yaml: string;
  /** The task's downstream, read from the config. */
  target: Endpoint & { user: string };
  /** The schema holding DM's checkpoints in the downstream (`meta-schema`). */
  metaSchema: string;
}

export interface SavedConfigs {
  /** The source config, masked; null when DM no longer knows the source. */
  source: string | null;
  tasks: SavedTaskConfig[];
}

/** Where a source should read from, with the credential reference for its `from` user. */
export interface SourceEndpoint extends Endpoint {
  credentials: string;
}

/** A shard DDL lock as dm-master keeps it: the DDL, and which sources have reached it. */
export interface ShardDdlLock {
  id: string;
  task: string;
  mode: string;
  owner: string;
  ddls: string[];
  synced: string[];
  unsynced: string[];
}

/** One subtask of a task (the part on one source). */
export interface TaskSubtask {
  source: string;
  stage: string;
  unit: string;
  syncerBinlogGtid: string;
  errors: string[];
  /** Pessimistic shard groups it has not resolved: a DDL it reached while other tables of the group have not. */
  unresolvedGroups: Array<{ target: string; ddls: string[]; synced: string[]; unsynced: string[] }>;
}

// ---- MySQL / MariaDB: what an instance says about itself and its sources

export interface ReplicaState {
  ioRunning: boolean;
  sqlRunning: boolean;
  sourceHost: string;
  sourcePort: number;
  /** MySQL Source_UUID (the source last connected to); null when unknown (MariaDB, never connected). */
  sourceUuid: string | null;
  /** Source_Server_Id / Master_Server_Id; null when unknown. */
  sourceServerId: number | null;
  lastError: string;
}

/** A replication source of an instance, read (after the instance itself) for the errant-transaction check. */
export type SourceReading =
  | {
      reachable: true;
      address: string;
      serverUuid: string;
      serverId: number;
      /** MySQL gtid_executed; MariaDB gtid_binlog_state. */
      gtids: string;
      /** read_only or super_read_only ON. */
      readOnly?: boolean;
    }
  | { reachable: false; address: string; error: string };

/** Replication and binary log filters of a server (common/switch/filters.ts judges them). */
export interface FilterReading {
  /**
   * Per channel, as SHOW REPLICA STATUS shows them (MariaDB: SHOW ALL SLAVES
   * STATUS); global ones as channel `(global)`.
   */
  applier: Array<{ channel: string; name: string; rule: string }>;
  binlogDoDb: string;
  binlogIgnoreDb: string;
  /** replica_skip_errors (MariaDB slave_skip_errors). */
  skipErrors: string;
  /** How the server that was read spells what a DBA runs to clear a filter (absent: read before it was recorded). */
  words?: FilterWords;
}

/** A server's own spellings for the advice of the filter check (common/mysql/dialect.ts decides them). */
export interface FilterWords {
  stopReplica: string;
  startReplica: string;
  /** replica_skip_errors or slave_skip_errors. */
  skipErrorsVariable: string;
  /** CHANGE REPLICATION FILTER … FOR CHANNEL exists (MySQL 8.0+); else a filter is for every channel. */
  channelFilters: boolean;
}

/**
 * A server on the way from an instance up to its primary: a source, the
 * source's source, … read one after the other (each after the server it
 * feeds), with the same credential reference.
 */
export type HopReading = {
  address: string;
  /** 1: a source of the instance; 2: a source of a source; … */
  depth: number;
  /** The server it is a source of (`host:port`). */
  of: string;
} & (
  | {
      reachable: true;
      serverUuid: string;
      serverId: number;
      /** MySQL gtid_executed; MariaDB gtid_binlog_state. */
      gtids: string;
      readOnly: boolean;
      /** Its channels' sources (`host:port`) and whether a thread of each runs. */
      channels: Array<{ source: string; running: boolean }>;
      filters: FilterReading;
    }
  | { reachable: false; error: string }
);

export type InstanceFacts =
  | {
      reachable: true;
      address: string;
      flavor: Flavor;
      version: string;
      serverUuid: string;
      serverId: number;
      gtidMode: string;
      binlogFormat: string;
      binlogRowImage: string;
      binlogRowEventMaxSize: number | null;
      logBin: boolean;
      /** MySQL gtid_executed; MariaDB gtid_current_pos. */
      gtidExecuted: string;
      /** MySQL gtid_purged; null on MariaDB, which keeps none. */
      gtidPurged: string | null;
      /** The first replication channel; null when the instance replicates from nobody. */
      replica: ReplicaState | null;
      /** Every replication channel (MySQL multi-source replication has several). */
      channels?: ReplicaState[];
      /** read_only or super_read_only is ON. */
      readOnly?: boolean;
      /** log_replica_updates (MariaDB log_slave_updates): replicated transactions are written to its own binary log. */
      logReplicaUpdates?: boolean;
      /** MariaDB gtid_binlog_state (every server id's last GTID per domain); null on MySQL. */
      gtidBinlogState?: string | null;
      /** MariaDB gtid_strict_mode; null on MySQL. */
      gtidStrictMode?: boolean | null;
      /** With `withSources`: each channel's source, read after this instance. */
      sources?: SourceReading[];
      /**
       * With `withSources`: every server up to the primary (its sources, theirs, …), each read after what it
       * feeds.
       */
      chain?: HopReading[];
      /** With `withSources`: this instance's replication and binary log filters. */
      filters?: FilterReading;
      /** MySQL binlog_row_value_options ('' or PARTIAL_JSON); null when the server has no such variable (MariaDB). */
      binlogRowValueOptions?: string | null;
      /** MySQL binlog_transaction_compression; null when the server has no such variable (MariaDB, MySQL < 8.0.20). */
      binlogTransactionCompression?: boolean | null;
      /** What was decided from its version: the statements and variable names used, the features it lacks. */
      dialect?: Dialect;
    }
  | { reachable: false; address: string; error: string };

export interface BinlogDumpClient {
  id: number;
  user: string;
  /** PROCESSLIST.HOST: `address:port` of the client (or a name, with name resolution on). */
  host: string;
  /** The client's address (or name) without its port. */
  clientAddress: string;
  /** The addresses it stands for (a name resolved; an address as it is). */
  clientAddresses: string[];
  command: string;
  seconds: number;
  /**
   * The hosts of the replicas registered on the instance when it was read (SHOW REPLICAS): DM's binlog readers
   * register with their dm-worker's name. Absent when the list could not be read.
   */
  replicaHosts?: string[];
}

// ---- notifications

interface About {
  workflowId: string;
  runId: string;
  sourceId: string;
  dmCluster: string;
  kind: SwitchStatus['kind'];
  /** When it happened (workflow time, ISO). */
  at: string;
}

/** A drain's or return's: the host it empties or refills instead of a source. */
interface HostAbout {
  workflowId: string;
  runId: string;
  kind: 'drain' | 'return';
  /** host:port. */
  host: string;
  at: string;
}

/** What the workflow tells the notifier: facts only; the words and the commands are made by the notifier. */
export type NotifyEvent =
  | (About & {
      event: 'awaiting-approval';
      gate: Gate;
      /** What the approver approves, as the gate's record says it. */
      summary: string;
      /** A gate nobody decides by then rejects (ISO). */
      decideBy: string;
    })
  | (HostAbout & {
      event: 'awaiting-approval';
      /** A drain's one gate: its whole plan. */
      gate: 'plan';
      summary: string;
      /** A plan nobody decides by then is refused, and nothing changes (ISO). */
      decideBy: string;
    })
  | (About & {
      event: 'needs-operator';
      outcome: 'needs-operator';
      /** Why, as the switch's failure says it. */
      message: string;
      /** What to run by hand (the status's operatorActions). */
      operatorActions: string[];
    });

export type NotifyResult = { sent: true; status: number } | { sent: false; reason: string };
