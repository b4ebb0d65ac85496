import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, parseWorkerConfig } from '../../worker/config.js';
import { notifierFromConfig } from '../../worker/notifier.js';
import { credentialResolver } from '../../worker/credentials.js';
import { deploymentOptions } from '../../worker/worker.js';

const good = `
dm:
  clusters:
    default: { masterAddr: "127.0.0.1:8261", dmctl: /usr/local/bin/dmctl }
credentials:
  upstream: { user: dm, passwordEnv: DM_UPSTREAM_PASSWORD, hosts: [10.0.3.0/24] }
vip:
  providers:
    default: { type: command, locate: [/usr/local/bin/vip-locate], move: [/usr/local/bin/vip-move] }
`;

describe('worker configuration', () => {
  it('given a valid file, should fill the defaults', () => {
    const c = parseWorkerConfig(good);
    expect(c.taskQueue).toBe('dm-switch');
    expect(c.dm.clusters.default?.masterAddr).toBe('127.0.0.1:8261');
  });

  it.each([
    [
      'a misspelt key',
      good.replace('masterAddr', 'masterAdr'),
      /dm\.clusters\.default: unknown field\(s\) "masterAdr"/,
    ],
    [
      'a password in the file',
      good.replace('passwordEnv: DM_UPSTREAM_PASSWORD', 'password: hunter2'),
      /credentials\.upstream\.password: passwords never go/,
    ],
    [
      'a command given as a string',
      good.replace('locate: [/usr/local/bin/vip-locate]', 'locate: /usr/local/bin/vip-locate'),
      /vip\.providers\.default\.locate:/,
    ],
    ['an unknown provider type', good.replace('type: command', 'type: keepalived'), /vip\.providers\.default\.type:/],
    ['broken YAML', 'dm: [', /not valid YAML/],
  ])('given %s, should stop with a message naming the key', (_, text, message) => {
    expect(() => parseWorkerConfig(text, 'worker.yaml')).toThrow(ConfigError);
    expect(() => parseWorkerConfig(text, 'worker.yaml')).toThrow(message);
  });

  it('given workerHosts for a DM cluster, should keep them per dm-worker and refuse an empty list', () => {
    const c = parseWorkerConfig(
      good.replace(
        'dmctl: /usr/local/bin/dmctl }',
        'dmctl: /usr/local/bin/dmctl, workerHosts: { worker1: [10.0.3.17] } }',
      ),
    );
    expect(c.dm.clusters.default?.workerHosts).toEqual({ worker1: ['10.0.3.17'] });
    expect(() =>
      parseWorkerConfig(
        good.replace('dmctl: /usr/local/bin/dmctl }', 'dmctl: /usr/local/bin/dmctl, workerHosts: { worker1: [] } }'),
      ),
    ).toThrow(/dm\.clusters\.default\.workerHosts\.worker1:/);
  });

  it('resolves credential references on the worker, from the environment', async () => {
    const to = { host: '10.0.3.17', port: 3306, purpose: 'MySQL login' };
    const resolve = credentialResolver(parseWorkerConfig(good).credentials, { DM_UPSTREAM_PASSWORD: 's3cret' });
    await expect(resolve('upstream', to)).resolves.toMatchObject({ user: 'dm', password: 's3cret' });
    await expect(resolve('nope', to)).rejects.toThrow(/unknown credential reference "nope"/);
    await expect(credentialResolver(parseWorkerConfig(good).credentials, {})('upstream', to)).rejects.toThrow(
      /DM_UPSTREAM_PASSWORD is not set/,
    );
  });

  it('given a deployment, should run the worker as that version with switches pinned, the build ID from DM_SWITCH_BUILD_ID first', () => {
    expect(deploymentOptions(parseWorkerConfig(good), {})).toBeUndefined();
    const c = parseWorkerConfig(`${good}deployment: { name: dm-switch, buildId: "2026.12.1" }\n`);
    expect(deploymentOptions(c, {})).toEqual({
      version: { deploymentName: 'dm-switch', buildId: '2026.12.1' },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'PINNED',
    });
    expect(deploymentOptions(c, { DM_SWITCH_BUILD_ID: 'abc123' })?.version.buildId).toBe('abc123');
    expect(() => deploymentOptions(parseWorkerConfig(`${good}deployment: { name: dm-switch }\n`), {})).toThrow(
      /deployment\.buildId: give this worker's build ID .*DM_SWITCH_BUILD_ID/,
    );
    expect(() => parseWorkerConfig(`${good}deployment: { name: dm.switch, buildId: x }\n`)).toThrow(
      /deployment\.name: a deployment name without "\."/,
    );
  });

  describe('notify', () => {
    const withNotify = (n: string) => `${good}notify: ${n}\n`;

    it('given none, should have no notifier; given one, should fill the defaults', () => {
      expect(parseWorkerConfig(good).notify).toBeUndefined();
      expect(notifierFromConfig(parseWorkerConfig(good).notify, {})).toBeNull();
      expect(
        parseWorkerConfig(withNotify('{ urlEnv: DM_SWITCH_NOTIFY_URL, bearerTokenEnv: DM_SWITCH_NOTIFY_TOKEN }'))
          .notify,
      ).toEqual({
        urlEnv: 'DM_SWITCH_NOTIFY_URL',
        bearerTokenEnv: 'DM_SWITCH_NOTIFY_TOKEN',
        format: 'slack',
        timeoutSeconds: 10,
      });
      expect(
        parseWorkerConfig(
          withNotify('{ url: "http://127.0.0.1:8080/hook", bearerTokenEnv: T, format: json, timeoutSeconds: 3 }'),
        ).notify,
      ).toMatchObject({ format: 'json', timeoutSeconds: 3 });
    });

    it.each([
      [
        'no address',
        '{ bearerTokenEnv: T }',
        /notify: give the webhook's address: urlEnv .* or urlFile \(a Slack webhook URL is a secret\), or url for one that is not/,
      ],
      [
        'two addresses',
        '{ url: "https://hooks.example.com/x", urlEnv: U }',
        /notify: set one of url, urlEnv and urlFile, not url and urlEnv/,
      ],
      [
        'both token sources',
        '{ urlEnv: U, bearerTokenEnv: T, bearerTokenFile: /run/secrets/t }',
        /notify: set bearerTokenEnv or bearerTokenFile, not both/,
      ],
      [
        'a token inline',
        '{ urlEnv: U, bearerToken: abc123 }',
        /notify\.bearerToken: never in the configuration: give the token with bearerTokenEnv .* or bearerTokenFile/,
      ],
      ['a token under the name token', '{ urlEnv: U, token: abc123 }', /notify\.token: passwords never go/],
      ['not a URL', '{ url: "hooks.example.com/x" }', /notify\.url: is not a URL; give the webhook's full address/],
      ['another scheme', '{ url: "ftp://hooks.example.com/x" }', /notify\.url: is a ftp: URL; give an http\(s\) one/],
      [
        'credentials in the URL',
        '{ url: "https://me:pw@hooks.example.com/x" }',
        /notify\.url: carries credentials \(user:password@\); remove them and give a bearer token/,
      ],
      [
        'a token over plain http',
        '{ url: "http://hooks.example.com/x", bearerTokenEnv: T }',
        /notify\.url: is http:\/\/ to hooks\.example\.com: the bearer token would cross the network in clear; use https:\/\//,
      ],
      ['a bad variable name', '{ urlEnv: "my-url" }', /notify\.urlEnv: an environment variable name/],
      ['an unknown format', '{ urlEnv: U, format: xml }', /notify\.format: slack \(the default.*\) or json/],
      ['a long timeout', '{ urlEnv: U, timeoutSeconds: 120 }', /notify\.timeoutSeconds: at most 30 s/],
      ['a misspelt key', '{ urlEnv: U, timeout: 5 }', /notify: unknown field\(s\) "timeout"/],
    ])('given %s, should stop with a message naming the key and what to do', (_, n, message) => {
      expect(() => parseWorkerConfig(withNotify(n), 'worker.yaml')).toThrow(ConfigError);
      expect(() => parseWorkerConfig(withNotify(n), 'worker.yaml')).toThrow(message);
    });

    it('given its URL or token from a variable or a file the worker cannot have, should stop it at start, without repeating the URL', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dm-switch-notify-config-'));
      try {
        const c = (n: string) => parseWorkerConfig(withNotify(n)).notify;
        expect(() => notifierFromConfig(c('{ urlEnv: DM_SWITCH_NOTIFY_URL }'), {})).toThrow(
          /^notify\.urlEnv: environment variable DM_SWITCH_NOTIFY_URL is not set on the worker; set it, or remove notify/,
        );
        expect(() =>
          notifierFromConfig(c('{ urlEnv: U, bearerTokenEnv: T }'), { U: 'https://hooks.example.com/x' }),
        ).toThrow(/^notify\.bearerTokenEnv: environment variable T is not set/);
        expect(() => notifierFromConfig(c(`{ urlFile: ${JSON.stringify(join(dir, 'none'))} }`), {})).toThrow(
          /^notify\.urlFile: cannot read .*none \(ENOENT\); give a file the worker's user can read/,
        );
        // the URL in the variable is checked like one inline, and not printed (a Slack webhook URL is a secret)
        const bad = () =>
          notifierFromConfig(c('{ urlEnv: U, bearerTokenEnv: T }'), {
            U: 'http://hooks.example.com/services/T0/B0/s3cr3t',
            T: 'tok',
          });
        expect(bad).toThrow(ConfigError);
        expect(bad).toThrow(
          /^notify\.urlEnv: the URL in U is http:\/\/ to hooks\.example\.com: the bearer token would cross the network in clear/,
        );
        expect(bad).not.toThrow(/s3cr3t/);
        writeFileSync(join(dir, 'url'), 'https://hooks.example.com/services/x\n');
        writeFileSync(join(dir, 'token'), 'tok\n');
        const ok = notifierFromConfig(
          c(
            `{ urlFile: ${JSON.stringify(join(dir, 'url'))}, bearerTokenFile: ${JSON.stringify(join(dir, 'token'))}, format: json }`,
          ),
          {},
        );
        expect(ok).toMatchObject({ format: 'json', timeoutMs: 10_000 });
        await expect(ok!.url()).resolves.toBe('https://hooks.example.com/services/x');
        await expect(ok!.bearerToken!()).resolves.toBe('tok');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('has a commented notify example in deploy/worker.yaml that passes validation once uncommented', () => {
    const example = readFileSync(join(import.meta.dirname, '../../deploy/worker.yaml'), 'utf8');
    const lines = example.split('\n');
    const start = lines.findIndex((l) => l.startsWith('# notify:'));
    expect(start).toBeGreaterThan(0);
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('#   '));
    const block = lines.slice(start, end < 0 ? undefined : end).map((l) => l.slice(2));
    const c = parseWorkerConfig(`${good}${block.join('\n')}\n`);
    expect(c.notify).toMatchObject({ urlEnv: expect.any(String) });
  });
});
