/**
 * A real Jaeger (v2: an OpenTelemetry collector with Jaeger's storage and query extensions, built by
 * scripts/build-jaeger.sh) on loopback, all-in-one with in-memory storage: spans in over OTLP/HTTP, read back
 * through its query API (/api/traces). Every port a free one; its configuration and log in a temp directory.
 */
import { execa } from 'execa';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon } from './daemon.js';
import { freePort } from './ports.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

let binary: Promise<string> | undefined;
/** The cached Jaeger binary, built once (minutes) on a machine that lacks it. */
export function jaegerBinary(): Promise<string> {
  binary ??= execa('bash', [join(root, 'scripts/build-jaeger.sh')], { stderr: 'inherit' }).then((r) =>
    r.stdout.trim().split('\n').pop()!,
  );
  return binary;
}

/** A span as Jaeger's query API (/api/traces) returns it. */
export interface JaegerSpan {
  traceID: string;
  spanID: string;
  operationName: string;
  references: Array<{ refType: string; traceID: string; spanID: string }>;
  tags: Array<{ key: string; type: string; value: unknown }>;
  processID: string;
}
export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string }>;
}

export interface Jaeger {
  /** Where OTLP/HTTP goes: OTEL_EXPORTER_OTLP_ENDPOINT. */
  otlpEndpoint: string;
  /** The query API and UI. */
  queryUrl: string;
  /** Every trace with a span of `service` (Jaeger's /api/traces). */
  traces(service: string, tags?: Record<string, string>): Promise<JaegerTrace[]>;
  /** The services Jaeger has seen spans of. */
  services(): Promise<string[]>;
  stop(): Promise<void>;
}

const config = (p: { otlp: number; http: number; grpc: number }) => `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:${p.http}
    grpc:
      endpoint: 127.0.0.1:${p.grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${p.otlp}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`;

export async function startJaeger(): Promise<Jaeger> {
  const bin = await jaegerBinary();
  const ports = { otlp: await freePort(), http: await freePort(), grpc: await freePort() };
  const queryUrl = `http://127.0.0.1:${ports.http}`;
  const otlpEndpoint = `http://127.0.0.1:${ports.otlp}`;
  const getJson = async <T>(path: string): Promise<T> => {
    const r = await fetch(`${queryUrl}${path}`);
    if (!r.ok) throw new Error(`Jaeger ${path}: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { data: T }).data;
  };
  const daemon = await startDaemon({
    what: 'jaeger',
    binary: bin,
    prepare: async (dir) => {
      const configPath = join(dir, 'jaeger.yaml');
      await writeFile(configPath, config(ports));
      return [`--config=${configPath}`];
    },
    probe: async () => {
      await getJson('/api/services');
      // the OTLP receiver answers too (an empty export)
      const r = await fetch(`${otlpEndpoint}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"resourceSpans":[]}',
      });
      if (!r.ok) throw new Error(`OTLP receiver: ${r.status}`);
    },
  });
  return {
    otlpEndpoint,
    queryUrl,
    async traces(service, tags) {
      const q = new URLSearchParams({ service, limit: '100', lookback: '1h' });
      if (tags) q.set('tags', JSON.stringify(tags));
      return getJson<JaegerTrace[]>(`/api/traces?${q.toString()}`);
    },
    async services() {
      return (await getJson<string[] | null>('/api/services')) ?? [];
    },
    stop: () => daemon.stop(),
  };
}
