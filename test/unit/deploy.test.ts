/**
 * temporal-dev.yml (Docker Compose) and its example configurations: no
 * Docker engine runs here, so the file is checked by parsing it: its
 * services, ports, wiring and search attributes, and the example worker
 * configuration and webhook policy it mounts pass our own validation.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../../client/policy.js';
import { SEARCH_ATTRIBUTES } from '../../common/switch/search-attributes.js';
import { parseWorkerConfig } from '../../worker/config.js';

const root = join(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
type Service = {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
};
const compose = parse(read('temporal-dev.yml')) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const s = compose.services;

describe('temporal-dev.yml', () => {
  it('has the Temporal server, the Web UI, the worker and the webhook', () => {
    expect(Object.keys(s).sort()).toEqual(['temporal', 'temporal-ui', 'webhook', 'worker']);
    expect(s.temporal!.image).toMatch(/^temporalio\/temporal:1\.5\.1$/); // the CLI version the project builds
    expect(s['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(s.worker!.build).toBe('.');
    expect(s.webhook!.build).toBe('.');
    expect(existsSync(join(root, 'Dockerfile'))).toBe(true);
  });

  it('publishes the ports the deployment guide names', () => {
    expect(s.temporal!.ports).toEqual(['7233:7233']);
    expect(s['temporal-ui']!.ports).toEqual(['8080:8080']);
    expect(s.webhook!.ports).toEqual(['9095:9095']);
    expect(s.worker!.ports).toEqual(['9464:9464']);
    const guide = read('docs/deploying.md');
    for (const port of ['7233', '8080', '9095', '9464']) expect(guide).toContain(`localhost:${port}`);
    expect(guide).toContain('docker compose -f temporal-dev.yml up');
  });

  it('registers exactly the search attributes the workflows upsert', () => {
    const registered = (s.temporal!.command ?? [])
      .filter((a) => a.startsWith('--search-attribute='))
      .map((a) => a.slice('--search-attribute='.length));
    expect(registered.sort()).toEqual(
      Object.entries(SEARCH_ATTRIBUTES)
        .map(([k, v]) => `${k}=${v}`)
        .sort(),
    );
    expect(s.temporal!.command).toContain('--db-filename=/data/temporal.sqlite');
    expect(s.temporal!.volumes).toEqual(['temporal-data:/data']);
  });

  it('wires the worker and the webhook to Temporal and to their mounted configuration', () => {
    for (const name of ['worker', 'webhook', 'temporal-ui']) {
      expect(s[name]!.environment!.TEMPORAL_ADDRESS).toBe('temporal:7233');
      expect(s[name]!.depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
    }
    const mount = (svc: Service, target: string) => svc.volumes!.find((v) => v.split(':')[1] === target)?.split(':')[0];
    expect(mount(s.worker!, s.worker!.environment!.DM_SWITCH_CONFIG!)).toBe('./deploy/worker.yaml');
    expect(mount(s.webhook!, s.webhook!.environment!.DM_SWITCH_WEBHOOK_POLICY!)).toBe('./deploy/webhook.yaml');
    expect(s.worker!.command).toEqual(['node', '--import', 'tsx', 'worker/main.ts']);
    expect(s.webhook!.command).toEqual(['node', '--import', 'tsx', 'client/webhook-main.ts']);
    expect(s.webhook!.environment!.DM_SWITCH_WEBHOOK_TOKEN).toMatch(/^\$\{DM_SWITCH_WEBHOOK_TOKEN:\?/); // refuses to start without a token
  });

  it('mounts example configurations that pass our own validation', () => {
    const worker = parseWorkerConfig(read('deploy/worker.yaml'), 'deploy/worker.yaml');
    expect(Object.keys(worker.credentials)).toEqual(['upstream', 'downstream']);
    // the passwords the worker configuration names are passed through by the compose file
    for (const c of Object.values(worker.credentials))
      if (c.passwordEnv) expect(Object.keys(s.worker!.environment!)).toContain(c.passwordEnv);
    const policy = parsePolicy(read('deploy/webhook.yaml'), 'deploy/webhook.yaml');
    expect(Object.keys(s.webhook!.environment!)).toContain(policy.auth.bearerTokenEnv);
    expect(policy.rules[0]!.switch.newInstance).toMatchObject({ credentials: 'upstream' });
    expect(Object.keys(worker.credentials)).toContain(
      (policy.rules[0]!.switch.newInstance as { credentials: string }).credentials,
    );
  });
});
