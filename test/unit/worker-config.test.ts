import { describe, expect, it } from 'vitest';
import { ConfigError, parseWorkerConfig } from '../../worker/config.js';
import { credentialResolver } from '../../worker/credentials.js';
import { deploymentOptions } from '../../worker/worker.js';

const good = `
dm:
  clusters:
    default: { masterAddr: "127.0.0.1:8261", dmctl: /usr/local/bin/dmctl }
credentials:
  upstream: { user: dm, passwordEnv: DM_UPSTREAM_PASSWORD }
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
    ['a misspelt key', good.replace('masterAddr', 'masterAdr'), /dm\.clusters\.default: unknown field\(s\) "masterAdr"/],
    ['a password in the file', good.replace('passwordEnv: DM_UPSTREAM_PASSWORD', 'password: hunter2'), /credentials\.upstream\.password: passwords never go/],
    ['a command given as a string', good.replace('locate: [/usr/local/bin/vip-locate]', 'locate: /usr/local/bin/vip-locate'), /vip\.providers\.default\.locate:/],
    ['an unknown provider type', good.replace('type: command', 'type: keepalived'), /vip\.providers\.default\.type:/],
    ['broken YAML', 'dm: [', /not valid YAML/],
  ])('given %s, should stop with a message naming the key', (_, text, message) => {
    expect(() => parseWorkerConfig(text, 'worker.yaml')).toThrow(ConfigError);
    expect(() => parseWorkerConfig(text, 'worker.yaml')).toThrow(message);
  });

  it('given workerHosts for a DM cluster, should keep them per dm-worker and refuse an empty list', () => {
    const c = parseWorkerConfig(good.replace('dmctl: /usr/local/bin/dmctl }', 'dmctl: /usr/local/bin/dmctl, workerHosts: { worker1: [10.0.3.17] } }'));
    expect(c.dm.clusters.default?.workerHosts).toEqual({ worker1: ['10.0.3.17'] });
    expect(() => parseWorkerConfig(good.replace('dmctl: /usr/local/bin/dmctl }', 'dmctl: /usr/local/bin/dmctl, workerHosts: { worker1: [] } }'))).toThrow(/dm\.clusters\.default\.workerHosts\.worker1:/);
  });

  it('resolves credential references on the worker, from the environment', async () => {
    const resolve = credentialResolver(parseWorkerConfig(good).credentials, { DM_UPSTREAM_PASSWORD: 's3cret' });
    await expect(resolve('upstream')).resolves.toEqual({ user: 'dm', password: 's3cret' });
    await expect(resolve('nope')).rejects.toThrow(/unknown credential reference "nope"/);
    await expect(credentialResolver(parseWorkerConfig(good).credentials, {})('upstream')).rejects.toThrow(/DM_UPSTREAM_PASSWORD is not set/);
  });

  it('given a deployment, should run the worker as that version with switches pinned, the build ID from DM_SWITCH_BUILD_ID first', () => {
    expect(deploymentOptions(parseWorkerConfig(good), {})).toBeUndefined();
    const c = parseWorkerConfig(`${good}deployment: { name: dm-switch, buildId: "2026.12.1" }\n`);
    expect(deploymentOptions(c, {})).toEqual({ version: { deploymentName: 'dm-switch', buildId: '2026.12.1' }, useWorkerVersioning: true, defaultVersioningBehavior: 'PINNED' });
    expect(deploymentOptions(c, { DM_SWITCH_BUILD_ID: 'abc123' })?.version.buildId).toBe('abc123');
    expect(() => deploymentOptions(parseWorkerConfig(`${good}deployment: { name: dm-switch }\n`), {})).toThrow(/deployment\.buildId: give this worker's build ID .*DM_SWITCH_BUILD_ID/);
    expect(() => parseWorkerConfig(`${good}deployment: { name: dm.switch, buildId: x }\n`)).toThrow(/deployment\.name: a deployment name without "\."/);
  });
});
