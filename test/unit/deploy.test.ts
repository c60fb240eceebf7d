import { SERVICE_NODE_FLAGS } from '../../src/cli/service-node-flags.js';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { listenRefusal } from '../../src/cli/serve-command.js';
import { CONFIG_ENV_VARIABLES, loadConfig } from '../../src/config/config.js';
import { parseDuration } from '../../src/config/duration.js';
import { Metrics } from '../../src/observability/metrics.js';

/** The repository root, from dist/test/unit (compiled) or test/unit. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), dirname(fileURLToPath(import.meta.url)).includes('/dist/') ? '../../..' : '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every series name the service exports, histogram and summary parts included. */
async function exportedSeries(): Promise<Set<string>> {
  const names = new Set<string>();
  for (const metric of await new Metrics().registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(metric.name + suffix);
  }
  return names;
}

function referencedMetrics(text: string): string[] {
  return [...new Set(text.match(/\bcronplane_[a-z0-9_]+/g) ?? [])];
}

describe('deploy/prometheus/cronplane-alerts.yml', () => {
  type Rule = { alert: string; expr: string; for?: string; labels: { severity: string }; annotations: { summary: string; description?: string } };
  const text = read('deploy/prometheus/cronplane-alerts.yml');
  const doc = parseYaml(text) as { groups: { name: string; rules: Rule[] }[] };

  test('parses as Prometheus rule groups, every rule with an expression, a severity and a summary', () => {
    assert.ok(Array.isArray(doc.groups) && doc.groups.length > 0);
    for (const group of doc.groups) {
      assert.equal(typeof group.name, 'string');
      for (const rule of group.rules) {
        assert.match(rule.alert, /^Cronplane[A-Za-z]+$/);
        assert.ok(rule.expr.trim() !== '', `${rule.alert}: expr`);
        assert.ok(['warning', 'critical'].includes(rule.labels.severity), `${rule.alert}: severity`);
        assert.ok(rule.annotations.summary.length > 0, `${rule.alert}: summary`);
        if (rule.for !== undefined) assert.ok(parseDuration(rule.for) !== undefined, `${rule.alert}: for`);
      }
    }
  });

  test('covers repeated failures, lateness, outbox growth, NATS, and tasks not firing', () => {
    const rules = doc.groups.flatMap((g) => g.rules);
    const byName = new Map(rules.map((r) => [r.alert, r]));
    assert.match(byName.get('CronplaneExecutionsFailingRepeatedly')!.expr, /increase\(cronplane_executions_total\{state=~"FAILED\|TIMED_OUT\|LOST"\}\[15m\]\)/);
    assert.match(byName.get('CronplaneFireLatenessHigh')!.expr, /histogram_quantile\(0\.99, .*cronplane_fire_lateness_seconds_bucket/);
    assert.match(byName.get('CronplaneOutboxGrowing')!.expr, /cronplane_outbox_events/);
    assert.match(byName.get('CronplaneNatsDisconnected')!.expr, /cronplane_nats_connected == 0/);
    assert.match(byName.get('CronplaneNoFires')!.expr, /cronplane_tasks\{state="ENABLED"\}[\s\S]*cronplane_fires_total/);
    assert.match(byName.get('CronplaneMissedOccurrences')!.expr, /state="MISSED"/);
  });

  test('uses only metrics the service exports', async () => {
    const exported = await exportedSeries();
    for (const name of referencedMetrics(text)) assert.ok(exported.has(name), `${name} is not exported by the service`);
  });
});

describe('deploy/grafana/cronplane-dashboard.json', () => {
  const text = read('deploy/grafana/cronplane-dashboard.json');
  type Panel = { type: string; title: string; id: number; targets?: { expr: string }[]; gridPos: { w: number; h: number; x: number; y: number } };
  const dashboard = JSON.parse(text) as { uid: string; title: string; panels: Panel[]; templating: { list: { name: string }[] } };

  test('parses as a dashboard with unique panel ids, queries on every graph and a data source variable', () => {
    assert.equal(dashboard.uid, 'cronplane');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
      assert.ok(panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title}: wider than the grid`);
    }
    assert.deepEqual(dashboard.templating.list.map((v) => v.name), ['datasource', 'instance']);
  });

  test('graphs every metric family of the service, and only those', async () => {
    const exported = await exportedSeries();
    const used = referencedMetrics(text);
    for (const name of used) assert.ok(exported.has(name), `${name} is not exported by the service`);
    for (const family of ['cronplane_fires_total', 'cronplane_fire_lateness_seconds_bucket', 'cronplane_executions_total', 'cronplane_execution_duration_seconds_bucket',
      'cronplane_attempt_duration_seconds_bucket', 'cronplane_outbox_events', 'cronplane_nats_connected', 'cronplane_tasks', 'cronplane_rpc_total', 'cronplane_rpc_duration_seconds_bucket']) {
      assert.ok(used.includes(family), `the dashboard does not show ${family}`);
    }
  });
});

describe('deploy/systemd/cronplane.service and deploy/cronplane.env.example', () => {
  const unit = read('deploy/systemd/cronplane.service');
  const env = read('deploy/cronplane.env.example');
  const directive = (name: string) => new RegExp(`^${name}=(.*)$`, 'm').exec(unit)?.[1];

  test('the unit runs serve with the environment file and stops gracefully within systemd\'s timeout', () => {
    for (const section of ['[Unit]', '[Service]', '[Install]']) assert.ok(unit.includes(section), section);
    assert.match(directive('ExecStart') ?? '', /cronplane\.js serve$/);
    assert.equal(directive('ExecStart'), `/usr/bin/node ${SERVICE_NODE_FLAGS.join(' ')} /opt/cronplane/dist/src/cli/cronplane.js serve`, 'the same Node.js flags as make run');
    assert.ok(read('Makefile').includes(`\tnode ${SERVICE_NODE_FLAGS.join(' ')} dist/src/cli/cronplane.js serve\n`), 'make run uses SERVICE_NODE_FLAGS');
    assert.equal(directive('EnvironmentFile'), '/etc/cronplane/cronplane.env');
    assert.equal(directive('KillSignal'), 'SIGTERM');
    assert.equal(directive('RestartPreventExitStatus'), '2', 'a config error (exit 2) is not restarted in a loop');
    const grace = parseDuration(/^CRONPLANE_SHUTDOWN_GRACE=(.*)$/m.exec(env)![1]!)!;
    const stopTimeout = parseDuration(directive('TimeoutStopSec')!)!;
    assert.ok(stopTimeout >= grace + 10_000, `TimeoutStopSec ${stopTimeout} ms must exceed the grace ${grace} ms plus the gRPC and outbox drains`);
    // The store lives in the unit's state directory.
    assert.equal(directive('StateDirectory'), 'cronplane');
    assert.match(env, /^CRONPLANE_STORE=sqlite:\/var\/lib\/cronplane\//m);
  });

  test('the example names every CRONPLANE_* setting, nothing else, and its active lines make a valid config that may listen beyond loopback', () => {
    const mentioned = [...env.matchAll(/^#?(CRONPLANE_[A-Z_]+)=/gm)].map((m) => m[1]!);
    for (const name of mentioned) assert.ok(CONFIG_ENV_VARIABLES.includes(name), `${name} is not a setting`);
    for (const name of CONFIG_ENV_VARIABLES) assert.ok(mentioned.includes(name), `deploy/cronplane.env.example does not mention ${name}`);
    const active = Object.fromEntries([...env.matchAll(/^(CRONPLANE_[A-Z_]+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    const config = loadConfig([], active);
    assert.equal(config.grpcAddr, '0.0.0.0:50051');
    assert.equal(listenRefusal(config), undefined, 'authentication is configured, so serve may listen beyond loopback');
  });
});
