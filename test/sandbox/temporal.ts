/**
 * A real Temporal dev server (`temporal server start-dev`, built by
 * scripts/build-temporal.sh) on free loopback ports, persisting to a SQLite
 * file so that a restart keeps every workflow's history.
 *
 *   const temporal = await startTemporal();
 *   const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
 *   await temporal.restart();   // same SQLite file, same ports
 *   await temporal.destroy();
 */
import { Connection } from '@temporalio/client';
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';
import { SEARCH_ATTRIBUTES } from '../../common/switch/search-attributes.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let binary: Promise<string> | undefined;

/** Path of the cached `temporal` CLI, building it on first use. */
export function temporalBinary(): Promise<string> {
  binary ??= execa('bash', [join(repoRoot, 'scripts/build-temporal.sh')], { stderr: 'inherit' }).then((r) =>
    r.stdout.trim(),
  );
  return binary;
}

export interface TemporalOptions {
  /** SQLite file; default: a new one in a temporary directory; null: in memory (lost when it stops, no restart). */
  dbFile?: string | null;
  /** Serve the Web UI too (on `uiPort`). Tests usually don't need it. */
  ui?: boolean;
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** More namespaces to create beside `namespace` (each gets the search attributes). */
  moreNamespaces?: string[];
  /** Search attributes to register, name → type (Keyword, Text, Int, Double, Bool, Datetime, KeywordList). */
  searchAttributes?: Record<string, string>;
  /** Where the server's own log goes; default: a file beside the SQLite file. */
  logFile?: string;
  /** The Web UI decodes payloads through this codec endpoint (`--ui-codec-endpoint`). */
  uiCodecEndpoint?: string;
}

export class TemporalDevServer {
  private proc: ResultPromise | undefined;

  constructor(
    readonly binary: string,
    readonly dir: string,
    readonly dbFile: string | null,
    readonly port: number,
    readonly uiPort: number | undefined,
    readonly httpPort: number,
    readonly metricsPort: number,
    readonly namespace: string,
    private readonly searchAttributes: Record<string, string>,
    readonly logFile: string,
    private readonly extraArgs: string[] = [],
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get uiUrl(): string | undefined {
    return this.uiPort === undefined ? undefined : `http://127.0.0.1:${this.uiPort}`;
  }

  async start(): Promise<void> {
    if (this.proc) throw new Error('temporal dev server is already running');
    // The dev server picks its internal services' ports itself (bind to 0,
    // close, bind again); another process can take one in between, and the
    // server then exits at once. Starting again picks new ones.
    for (let attempt = 1; ; attempt++) {
      const logSize = await stat(this.logFile).then(
        (s) => s.size,
        () => 0,
      );
      try {
        await this.startOnce();
        return;
      } catch (e) {
        const log = await readFile(this.logFile).then(
          (b) => b.subarray(logSize).toString('utf8'),
          () => '',
        );
        if (attempt >= 3 || this.proc || !/address already in use/.test(log)) throw e;
      }
    }
  }

  private async startOnce(): Promise<void> {
    const args = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--http-port',
      String(this.httpPort),
      '--metrics-port',
      String(this.metricsPort),
      ...(this.dbFile === null ? [] : ['--db-filename', this.dbFile]),
      '--namespace',
      this.namespace,
      '--log-level',
      'warn',
      ...(this.uiPort === undefined ? ['--headless'] : ['--ui-ip', '127.0.0.1', '--ui-port', String(this.uiPort)]),
      ...Object.entries(this.searchAttributes).flatMap(([k, v]) => ['--search-attribute', `${k}=${v}`]),
      ...this.extraArgs,
    ];
    const proc = execa(this.binary, args, {
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
    await waitUntilReady({
      what: 'temporal dev server',
      process: proc,
      probe: async () => {
        const connection = await Connection.connect({ address: this.address, connectTimeout: 1000 });
        try {
          await connection.workflowService.describeNamespace({ namespace: this.namespace });
        } finally {
          await connection.close();
        }
      },
      diagnostics: async () => `see ${this.logFile}`,
    });
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await proc;
    clearTimeout(timer);
  }

  /** A crash of the server: SIGKILL. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGKILL');
    await proc;
  }

  /** Stops and starts again on the same SQLite file and ports. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

export async function startTemporal(options: TemporalOptions = {}): Promise<TemporalDevServer> {
  const bin = await temporalBinary();
  // A port we picked can still be taken before the server binds it; then the
  // server exits at once, and we try again on new ports. Ports the caller
  // fixed are not changed.
  for (let attempt = 1; ; attempt++) {
    const dir = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), 'dm-switch-temporal-'));
    const server = new TemporalDevServer(
      bin,
      dir,
      options.dbFile === undefined ? join(dir, 'temporal.sqlite') : options.dbFile,
      options.port ?? (await freePort()),
      options.ui ? (options.uiPort ?? (await freePort())) : undefined,
      await freePort(),
      await freePort(),
      options.namespace ?? 'default',
      // the switches' own search attributes, registered as a cluster operator would
      { ...SEARCH_ATTRIBUTES, ...options.searchAttributes },
      options.logFile ?? join(dir, 'temporal.log'),
      [
        ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
        ...(options.moreNamespaces ?? []).flatMap((n) => ['--namespace', n]),
      ],
    );
    try {
      await server.start();
      return server;
    } catch (e) {
      const portsOurs = options.port === undefined && (!options.ui || options.uiPort === undefined);
      const log = await readFile(server.logFile, 'utf8').catch(() => '');
      if (attempt >= 3 || !portsOurs || !/address already in use/.test(log)) throw e;
      await server.destroy();
    }
  }
}
