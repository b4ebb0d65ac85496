/**
 * A real Temporal *cluster* for the sandbox: the Temporal server (built from
 * go.temporal.io/server by scripts/build-temporal-server.sh, all four
 * services in one process) on PostgreSQL 15 for both persistence and
 * visibility (plugin postgres12), everything on free loopback ports in one
 * temporary directory. The same surface as TemporalDevServer
 * (test/sandbox/temporal.ts), so a suite or a stack can use either:
 *
 *   const temporal = await startTemporalCluster();
 *   const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
 *   await temporal.kill();      // a crash of the Temporal server; PostgreSQL keeps running
 *   await temporal.start();     // same database, same ports
 *   await temporal.destroy();   // server, then PostgreSQL, then the directory
 *
 * What a cluster differs in from the dev server, and the tests exercise:
 * SQL visibility (eventually consistent: a list query may lag a moment) and
 * custom search attributes that map to pre-allocated columns. SQL visibility
 * (postgres12, mysql8, sqlite) has a fixed number of columns per type, per
 * namespace: defaultNumDBCustomSearchAttributes in
 * go.temporal.io/server@v1.32.2/common/searchattribute/sadefs/constants.go
 * gives Keyword 10, and Bool, Int, Double, Datetime, Text and KeywordList 3
 * each (the columns Keyword01…Keyword10 etc. of executions_visibility in
 * schema/postgresql/v12/visibility/schema.sql; config
 * `visibility.persistenceCustomSearchAttributes` may raise a count only where
 * the columns exist). Creating one more fails with "Unable to create search
 * attributes: cannot have more than 10 search attribute of type Keyword."
 * (service/frontend/operator_handler.go). The switches need five Keywords
 * (common/switch/search-attributes.ts): they fit, leaving five.
 */
import { Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../../common/switch/search-attributes.js';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';
import { temporalBinary } from './temporal.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PG_BIN = process.env.DM_SWITCH_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PG_USER = 'temporal';

/** A log's path and its last lines, for errors (the directory goes when a failed start is cleaned up). */
async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return `${file}:\n${text.slice(-4000)}`;
}

let built: Promise<{ server: string; sqlTool: string; schemaDir: string }> | undefined;

/** The cached server and temporal-sql-tool (and the schema beside them), building them on first use. */
export function temporalServerBinaries(): Promise<{ server: string; sqlTool: string; schemaDir: string }> {
  built ??= execa('bash', [join(repoRoot, 'scripts/build-temporal-server.sh')], { stderr: 'inherit' }).then((r) => {
    const [server, sqlTool] = r.stdout.trim().split('\n') as [string, string];
    return { server, sqlTool, schemaDir: join(dirname(dirname(server)), 'schema/postgresql/v12') };
  });
  return built;
}

export interface TemporalClusterOptions {
  namespace?: string;
  /** Search attributes to register besides the switches' own, name → type. */
  searchAttributes?: Record<string, string>;
  /** default 4: enough for one host, and shard acquisition stays quick */
  numHistoryShards?: number;
  /** The server's log level (default warn, like the dev server's). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Extra dynamic config, key → value (one value, no constraints). */
  dynamicConfig?: Record<string, unknown>;
}

interface ServicePorts {
  grpc: number;
  membership: number;
}

/**
 * Dynamic config the cluster runs with. Most of what the dev server turns on
 * is on by default in v1.32 (frontend.enableUpdateWorkflowExecution, the
 * update's async-accepted stage, frontend.workerVersioningWorkflowAPIs,
 * system.enableDeploymentVersions); they are listed anyway so that an older
 * or newer server with other defaults still serves what the switches use
 * (workflow update for approvals, Worker Deployment Versioning).
 */
const DYNAMIC_CONFIG: Record<string, unknown> = {
  'frontend.enableUpdateWorkflowExecution': true,
  'frontend.enableUpdateWorkflowExecutionAsyncAccepted': true,
  'frontend.workerVersioningWorkflowAPIs': true,
  'system.enableDeploymentVersions': true,
  // as the dev server: a search attribute is usable as soon as it is created
  'system.forceSearchAttributesCacheRefreshOnRead': true,
  'frontend.persistenceMaxQPS': 10000,
  'history.persistenceMaxQPS': 45000,
  'system.namespaceCacheRefreshInterval': '1s',
};

/** When we are root, the PostgreSQL binaries run as this unprivileged user (PostgreSQL refuses root). */
async function pgRunAs(): Promise<{ prefix: string[]; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'nobody']) {
    const r = await execa('id', [user], { reject: false });
    const m = /uid=(\d+).*gid=(\d+)/.exec(r.stdout);
    if (r.exitCode === 0 && m)
      return {
        prefix: ['setpriv', `--reuid=${m[1]}`, `--regid=${m[2]}`, '--clear-groups', '--'],
        uid: Number(m[1]),
        gid: Number(m[2]),
      };
  }
  throw new Error('running as root and found neither a "postgres" nor a "nobody" user to run PostgreSQL as');
}

export class TemporalCluster {
  private proc: ResultPromise | undefined;
  private pg: ResultPromise | undefined;
  private namespaceRegistered = false;

  constructor(
    readonly binary: string,
    readonly sqlTool: string,
    readonly schemaDir: string,
    readonly dir: string,
    readonly namespace: string,
    readonly pgPort: number,
    readonly port: number,
    readonly httpPort: number,
    private readonly services: Record<'frontend' | 'history' | 'matching' | 'worker', ServicePorts>,
    private readonly searchAttributes: Record<string, string>,
    private readonly options: TemporalClusterOptions,
    private readonly runAs: Awaited<ReturnType<typeof pgRunAs>>,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  /** No Web UI in a cluster sandbox (the dev server's getter, for the same surface). */
  get uiUrl(): string | undefined {
    return undefined;
  }
  get pgData(): string {
    return join(this.dir, 'pgdata');
  }
  get logFile(): string {
    return join(this.dir, 'temporal.log');
  }
  get pgLogFile(): string {
    return join(this.dir, 'postgres.log');
  }
  get configFile(): string {
    return join(this.dir, 'temporal.yaml');
  }
  get running(): boolean {
    return this.proc !== undefined;
  }

  /** initdb, PostgreSQL started, the two databases created with their schemas, the server's config written. */
  async setUp(): Promise<void> {
    await chmod(this.dir, 0o711); // PostgreSQL's user reaches pgdata through it
    await mkdir(this.pgData, { mode: 0o700 });
    if (this.runAs) await chown(this.pgData, this.runAs.uid, this.runAs.gid);
    const pgCmd = (bin: string, args: string[]) =>
      this.runAs
        ? ([this.runAs.prefix[0]!, [...this.runAs.prefix.slice(1), join(PG_BIN, bin), ...args]] as const)
        : ([join(PG_BIN, bin), args] as const);
    const [initdb, initdbArgs] = pgCmd('initdb', [
      '-D',
      this.pgData,
      '-U',
      PG_USER,
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    const r = await execa(initdb, initdbArgs, { reject: false, all: true, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(`initdb failed (${r.exitCode}): ${r.all}`);
    await this.startPostgres();
    const tool = (db: string, args: string[]) =>
      execa(
        this.sqlTool,
        ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(this.pgPort), '-u', PG_USER, '--db', db, ...args],
        { reject: false, all: true, stdin: 'ignore' },
      ).then((x) => {
        if (x.exitCode !== 0)
          throw new Error(`temporal-sql-tool --db ${db} ${args.join(' ')} failed (${x.exitCode}): ${x.all}`);
      });
    // as the tool's README says: the database, the versioning tables at 0.0, then every versioned step up to the latest
    await Promise.all(
      [
        ['temporal', 'temporal'],
        ['temporal_visibility', 'visibility'],
      ].map(async ([db, schema]) => {
        await tool(db!, ['create-database']);
        await tool(db!, ['setup-schema', '-v', '0.0']);
        await tool(db!, ['update-schema', '-d', join(this.schemaDir, schema!, 'versioned')]);
      }),
    );
    await writeFile(this.configFile, toYaml(this.config()));
    await writeFile(
      join(this.dir, 'dynamicconfig.yaml'),
      toYaml(
        Object.fromEntries(
          Object.entries({ ...DYNAMIC_CONFIG, ...this.options.dynamicConfig }).map(([k, v]) => [
            k,
            [{ value: v, constraints: {} }],
          ]),
        ),
      ),
    );
  }

  private config(): unknown {
    const store = (databaseName: string, maxConns: number) => ({
      sql: {
        pluginName: 'postgres12',
        databaseName,
        connectAddr: `127.0.0.1:${this.pgPort}`,
        connectProtocol: 'tcp',
        user: PG_USER,
        password: '',
        maxConns,
        maxIdleConns: maxConns,
        maxConnLifetime: '1h',
      },
    });
    const svc = (p: ServicePorts, extra: Record<string, unknown> = {}) => ({
      rpc: { grpcPort: p.grpc, membershipPort: p.membership, bindOnLocalHost: true, ...extra },
    });
    return {
      log: { stdout: true, level: this.options.logLevel ?? 'warn' },
      persistence: {
        defaultStore: 'default',
        visibilityStore: 'visibility',
        numHistoryShards: this.options.numHistoryShards ?? 4,
        datastores: { default: store('temporal', 10), visibility: store('temporal_visibility', 5) },
      },
      global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
      services: {
        frontend: svc(this.services.frontend, { httpPort: this.httpPort }),
        history: svc(this.services.history),
        matching: svc(this.services.matching),
        worker: svc(this.services.worker),
      },
      clusterMetadata: {
        enableGlobalNamespace: false,
        failoverVersionIncrement: 10,
        masterClusterName: 'active',
        currentClusterName: 'active',
        clusterInformation: {
          active: {
            enabled: true,
            initialFailoverVersion: 1,
            rpcName: 'frontend',
            rpcAddress: this.address,
            httpAddress: `127.0.0.1:${this.httpPort}`,
          },
        },
      },
      dcRedirectionPolicy: { policy: 'noop' },
      dynamicConfigClient: { filepath: join(this.dir, 'dynamicconfig.yaml'), pollInterval: '10s' },
    };
  }

  private async startPostgres(): Promise<void> {
    // fsync off: the harness crashes the Temporal server, never PostgreSQL, so nothing the tests prove depends on it
    const args = [
      '-D',
      this.pgData,
      '-p',
      String(this.pgPort),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
    ];
    const [cmd, cmdArgs] = this.runAs
      ? [this.runAs.prefix[0]!, [...this.runAs.prefix.slice(1), join(PG_BIN, 'postgres'), ...args]]
      : [join(PG_BIN, 'postgres'), args];
    const pg = execa(cmd, cmdArgs, {
      stdin: 'ignore',
      stdout: { file: this.pgLogFile, append: true },
      stderr: { file: this.pgLogFile, append: true },
      reject: false,
      cleanup: true,
    });
    this.pg = pg;
    void pg.then(() => {
      if (this.pg === pg) this.pg = undefined;
    });
    await waitUntilReady({
      what: 'postgres',
      process: pg,
      probe: async () => {
        const r = await execa(
          'psql',
          ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', PG_USER, '-d', 'postgres', '-Atc', 'SELECT 1'],
          { reject: false, all: true, stdin: 'ignore' },
        );
        if (r.exitCode !== 0) throw new Error(r.all);
      },
      diagnostics: () => tail(this.pgLogFile),
    });
  }

  private async stopPostgres(): Promise<void> {
    const pg = this.pg;
    if (!pg) return;
    pg.kill('SIGINT'); // fast shutdown: disconnects clients instead of waiting for them
    const timer = setTimeout(() => pg.kill('SIGKILL'), 15_000);
    await pg;
    clearTimeout(timer);
  }

  /** Starts the Temporal server (PostgreSQL must run) and waits until it serves; once the namespace exists, until history serves it too. */
  async start(): Promise<void> {
    if (this.proc) throw new Error('temporal server is already running');
    if (!this.pg) throw new Error('postgres is not running');
    const proc = execa(this.binary, ['--config-file', this.configFile, '--allow-no-auth', 'start'], {
      cwd: this.dir,
      stdin: 'ignore',
      stdout: { file: this.logFile, append: true },
      stderr: { file: this.logFile, append: true },
      reject: false,
      cleanup: true,
    });
    this.proc = proc;
    void proc.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    await this.waitServing(proc, this.namespaceRegistered ? this.namespace : 'temporal-system');
  }

  /**
   * Frontend up (describeNamespace), and for our namespace also history:
   * describing a workflow that does not exist answers NotFound only once a
   * history host owns the shard.
   */
  private async waitServing(proc: Promise<unknown>, namespace: string, timeoutMs = 120_000): Promise<void> {
    await waitUntilReady({
      what: 'temporal server',
      process: proc,
      timeoutMs,
      intervalMs: 500,
      probe: async () => {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
        try {
          await connection.workflowService.describeNamespace({ namespace });
          if (namespace === this.namespace) {
            try {
              await connection.workflowService.describeWorkflowExecution({
                namespace,
                execution: { workflowId: 'dm-switch-readiness-probe' },
              });
            } catch (e) {
              if ((e as { code?: number }).code !== 5) throw e; // NOT_FOUND: history answered
            }
          }
        } finally {
          await connection.close();
        }
      },
      diagnostics: () => tail(this.logFile),
    });
  }

  /** `temporal operator namespace create`, then the search attributes, with the project's temporal CLI, as an operator would; then checks they are listed. */
  async registerNamespace(): Promise<void> {
    const cli = await temporalBinary();
    const run = async (args: string[], okIf?: RegExp) => {
      const r = await execa(cli, [...args, '--address', this.address, '--command-timeout', '30s'], {
        reject: false,
        all: true,
        stdin: 'ignore',
        env: { TEMPORAL_ADDRESS: this.address },
      });
      if (r.exitCode !== 0 && !(okIf && okIf.test(r.all ?? '')))
        throw new Error(`temporal ${args.join(' ')} failed (${r.exitCode}): ${r.all}`);
    };
    await run(
      ['operator', 'namespace', 'create', '--namespace', this.namespace, '--retention', '1d'],
      /already (exists|registered)/i,
    );
    this.namespaceRegistered = true;
    await this.waitServing(this.proc ?? Promise.resolve(), this.namespace);
    // one --type per --name, in pairs: the CLI (v1.5.1) pairs them by position, and with one --type
    // for several --name it registers only the first name, silently
    await run([
      'operator',
      'search-attribute',
      'create',
      '--namespace',
      this.namespace,
      ...Object.entries(this.searchAttributes).flatMap(([n, t]) => ['--name', n, '--type', t]),
    ]);
    const listed = await this.listSearchAttributes();
    const missing = Object.entries(this.searchAttributes).filter(
      ([n, t]) => listed[n]?.toLowerCase() !== t.toLowerCase(),
    );
    if (missing.length)
      throw new Error(
        `search attributes not listed after creating them: ${JSON.stringify(missing)}; listed: ${JSON.stringify(listed)}`,
      );
    // a list query by them parses (the frontend's namespace cache knows the aliases)
    await waitUntilReady({
      what: 'temporal visibility',
      process: this.proc ?? Promise.resolve(),
      probe: async () => {
        const connection = await Connection.connect({ address: this.address });
        try {
          const q = Object.keys(this.searchAttributes)
            .map((n) => `${n} = "probe"`)
            .join(' AND ');
          await connection.workflowService.listWorkflowExecutions({ namespace: this.namespace, query: q });
        } finally {
          await connection.close();
        }
      },
      diagnostics: () => tail(this.logFile),
      timeoutMs: 30_000,
    });
  }

  /** The namespace's custom search attributes, name → type as the CLI spells it (Keyword, Int, …). */
  async listSearchAttributes(): Promise<Record<string, string>> {
    const connection = await Connection.connect({ address: this.address });
    try {
      const r = await connection.operatorService.listSearchAttributes({ namespace: this.namespace });
      const names = ['Unspecified', 'Text', 'Keyword', 'Int', 'Double', 'Bool', 'Datetime', 'KeywordList'];
      return Object.fromEntries(
        Object.entries(r.customAttributes ?? {}).map(([k, v]) => [k, names[Number(v)] ?? String(v)]),
      );
    } finally {
      await connection.close();
    }
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await proc;
    clearTimeout(timer);
  }

  /** A crash of the Temporal server: SIGKILL. PostgreSQL keeps running. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGKILL');
    await proc;
  }

  /** Stops and starts the Temporal server again on the same database and ports. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop();
    await this.stopPostgres();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function startTemporalCluster(options: TemporalClusterOptions = {}): Promise<TemporalCluster> {
  const { server, sqlTool, schemaDir } = await temporalServerBinaries();
  const dir = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), 'dm-switch-temporal-cluster-'));
  const svc = async (): Promise<ServicePorts> => ({ grpc: await freePort(), membership: await freePort() });
  let cluster: TemporalCluster | undefined;
  try {
    const frontend = await svc();
    cluster = new TemporalCluster(
      server,
      sqlTool,
      schemaDir,
      dir,
      options.namespace ?? 'default',
      await freePort(),
      frontend.grpc,
      await freePort(),
      { frontend, history: await svc(), matching: await svc(), worker: await svc() },
      // the switches' own search attributes, registered as a cluster operator would
      { ...SEARCH_ATTRIBUTES, ...options.searchAttributes },
      options,
      await pgRunAs(),
    );
    await cluster.setUp();
    await cluster.start();
    await cluster.registerNamespace();
    return cluster;
  } catch (e) {
    if (cluster) await cluster.destroy().catch(() => undefined);
    else await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
