/**
 * Tracing is off unless the standard OpenTelemetry variables name a collector: without them no exporter, no
 * tracer provider and no activity interceptor is made, and the spans in activities are no-ops. With them, the
 * traces URL is the one OpenTelemetry's specification gives. Statements shown in spans carry no literal and
 * none that concerns a credential.
 */
import { ProxyTracerProvider, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { inSpan, redactStatement } from '../../activities/tracing.js';
import { ConfigError } from '../../worker/config.js';
import { startTracing, tracingSettings, workerTracing } from '../../worker/tracing.js';

describe('tracing settings', () => {
  it('given no OTEL_ variables, should export nothing: no provider, no interceptor, no span recorded', async () => {
    expect(tracingSettings({}, 'dm-switch-worker')).toBeUndefined();
    expect(startTracing({ PATH: '/usr/bin' }, 'dm-switch-worker')).toBeUndefined();
    // the API still has no tracer provider of its own: nothing was registered, so nothing can export
    const delegate = (trace.getTracerProvider() as ProxyTracerProvider).getDelegate();
    expect(delegate.constructor.name).toBe('NoopTracerProvider');
    let recording: boolean | undefined;
    await inSpan('dmctl query-status', {}, async () => {
      recording = trace.getActiveSpan()?.isRecording() ?? false;
    });
    expect(recording).toBe(false);
    const off = workerTracing(undefined);
    expect(off.activityInterceptors).toEqual([]);
    // the workflow's spans reach a sink that drops them
    expect(off.sinks.exporter.export.fn({} as never, [])).toBeUndefined();
  });

  it('given OTEL_EXPORTER_OTLP_ENDPOINT, should export to its /v1/traces, under OTEL_SERVICE_NAME', () => {
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318/' }, 'dm-switch-worker')).toEqual({
      url: 'http://127.0.0.1:4318/v1/traces',
      serviceName: 'dm-switch-worker',
    });
    expect(
      tracingSettings(
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/custom/traces',
          OTEL_SERVICE_NAME: 'dm-switch-eu',
        },
        'dm-switch',
      ),
    ).toEqual({ url: 'http://collector:4318/custom/traces', serviceName: 'dm-switch-eu' });
  });

  it('given OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none, should export nothing despite an endpoint', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' }, 'w')).toBeUndefined();
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }, 'w')).toBeUndefined();
  });

  it('given a protocol or an exporter this worker does not speak, should refuse to start and say what it does', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4317' };
    expect(() => tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'w')).toThrow(ConfigError);
    expect(() => tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'w')).toThrow(
      /http\/protobuf only/,
    );
    expect(() => tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'zipkin' }, 'w')).toThrow(/OTLP only/);
    expect(() => tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, 'w')).toThrow(/not a URL/);
  });
});

describe('statements in spans', () => {
  it('given a statement with literals, should show it with each literal as ?', () => {
    expect(
      redactStatement(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`),
    ).toBe('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE ?');
    expect(redactStatement(`SELECT "a\\"b", x'0F' FROM t`)).toBe('SELECT ?, ? FROM t');
  });

  it('given a statement that concerns a credential, should show none of it', () => {
    for (const sql of [
      `CREATE USER 'u'@'%' IDENTIFIED BY 's3cret'`,
      `SET PASSWORD FOR 'u'@'%' = 's3cret'`,
      `CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD='s3cret'`,
    ])
      expect(redactStatement(sql)).not.toMatch(/s3cret|repl/);
  });
});
