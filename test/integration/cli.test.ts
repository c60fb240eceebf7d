import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { MisfirePolicy, OverlapPolicy } from '../../src/gen/cronplane/v1/task_pb.js';
import { eventually, ServiceHarness } from '../helpers/service-harness.js';

const CLI = fileURLToPath(new URL('../../src/cli/cronplane.js', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/cli/tasks.yaml', import.meta.url));
const FIXTURE_TASKS = ['cleanup-cache', 'nightly-report', 'hourly-sync'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const STACK_LINE = /\n\s+at .+\(.*:\d+:\d+\)/;

describe('the cronplane command against a running service', () => {
  let h: ServiceHarness;
  let server: string;
  const dir = mkdtempSync(join(tmpdir(), 'cronplane-cli-'));

  /** Runs the built command as a child process (async: the service answers from this process). */
  const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args, '--server', server], {
        env: { ...process.env, NO_COLOR: '1', CRONPLANE_TOKEN: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });

  const ok = async (args: string[]): Promise<string> => {
    const run = await cli(args);
    assert.equal(run.code, 0, `cronplane ${args.join(' ')} failed (${run.code}):\n${run.stderr}`);
    return run.stdout;
  };

  const etags = async (names: string[]) => {
    const out: Record<string, string> = {};
    for (const name of names) out[name] = (await h.client.getTask({ name })).task!.etag;
    return out;
  };

  const notFound = async (name: string) => {
    try {
      await h.client.getTask({ name });
      return false;
    } catch (err) {
      return (err as ServiceError).code === Status.NOT_FOUND;
    }
  };

  before(async () => {
    h = await new ServiceHarness().start();
    server = `127.0.0.1:${h.service.grpcPort}`;
  });
  after(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('tasks create from flags; get as JSON; update changes only the flags given', async () => {
    const created = await ok([
      'tasks', 'create', 'flag-task', '--cron', '0 0 * * *', '--tz', 'Europe/Berlin',
      '--publish', `${h.prefix}.flag`, '--payload', 'hello', '--header', 'x-a=1',
      '--deadline', '5s', '--retries', '2', '--backoff', '2s', '--overlap', 'buffer-one', '--misfire', 'skip',
      '--label', 'team=blue', '--description', 'made by flags',
    ]);
    assert.match(created, /^created task flag-task: next run \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in .+\)\n$/);

    const task = (await h.client.getTask({ name: 'flag-task' })).task!;
    assert.equal(task.schedule!.cron, '0 0 * * *');
    assert.equal(task.schedule!.timeZone, 'Europe/Berlin');
    assert.equal(task.action!.kind.case, 'natsPublish');
    if (task.action!.kind.case === 'natsPublish') {
      assert.equal(new TextDecoder().decode(task.action!.kind.value.payload), 'hello');
      assert.deepEqual(task.action!.kind.value.headers, { 'x-a': '1' });
    }
    assert.equal(task.attemptDeadline!.seconds, 5n);
    assert.equal(task.retryPolicy!.maxAttempts, 3, '--retries 2 = three attempts');
    assert.equal(task.retryPolicy!.initialBackoff!.seconds, 2n);
    assert.equal(task.overlapPolicy, OverlapPolicy.BUFFER_ONE);
    assert.equal(task.misfirePolicy, MisfirePolicy.SKIP);
    assert.deepEqual(task.labels, { team: 'blue' });

    const json = JSON.parse(await ok(['tasks', 'get', 'flag-task', '--json']));
    assert.equal(json.task.name, 'flag-task');
    assert.equal(json.task.schedule.timeZone, 'Europe/Berlin');
    assert.equal(json.task.overlapPolicy, 'OVERLAP_POLICY_BUFFER_ONE');
    assert.equal(json.task.etag, task.etag);

    const details = await ok(['tasks', 'get', 'flag-task']);
    assert.match(details, /^schedule: +0 0 \* \* \* \(Europe\/Berlin\)$/m);
    assert.match(details, /^action: +publish cptest/m);

    const updated = await ok(['tasks', 'update', 'flag-task', '--cron', '30 1 * * *', '--label', 'env=prod']);
    assert.match(updated, /^updated task flag-task \(schedule\.cron, labels\)/);
    const after = (await h.client.getTask({ name: 'flag-task' })).task!;
    assert.equal(after.schedule!.cron, '30 1 * * *');
    assert.equal(after.schedule!.timeZone, 'Europe/Berlin', 'the zone was not among the flags');
    assert.deepEqual(after.labels, { team: 'blue', env: 'prod' }, 'labels are added to');
    assert.equal(after.description, 'made by flags');
    assert.equal(after.retryPolicy!.maxAttempts, 3);
  });

  test('tasks list: an aligned table under a header row, and --json with every task', async () => {
    for (const [name, cron] of [['ls-a', '0 0 * * *'], ['ls-bbbbbbbbbbbb', '*/5 * * * * *'], ['ls-c', '@weekly']] as const) {
      await h.client.createTask({
        task: {
          name, schedule: { cron }, labels: { suite: 'list' }, state: 2,
          action: { kind: { case: 'natsPublish', value: { subject: `${h.prefix}.ls` } } },
        },
      });
    }
    const table = await ok(['tasks', 'list', '--filter', 'labels.suite=list']);
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 4, table);
    const header = lines[0]!;
    assert.match(header, /^NAME +SCHEDULE +STATE +NEXT RUN +LAST RUN$/);
    const starts = ['SCHEDULE', 'STATE', 'NEXT RUN', 'LAST RUN'].map((col) => header.indexOf(col));
    for (const line of lines.slice(1)) {
      for (const start of starts.slice(0, 3)) {
        assert.equal(line[start - 1], ' ', `a space before column ${start}: ${JSON.stringify(line)}`);
        assert.notEqual(line[start], ' ', `a cell starts at ${start}: ${JSON.stringify(line)}`);
      }
      assert.equal(line, line.trimEnd(), 'no trailing spaces');
    }
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['ls-a', 'ls-bbbbbbbbbbbb', 'ls-c']);
    assert.match(lines[2]!, /^ls-bbbbbbbbbbbb +\*\/5 \* \* \* \* \* +PAUSED +- +-$/);

    const json = JSON.parse(await ok(['tasks', 'list', '--filter', 'labels.suite=list', '--json']));
    assert.deepEqual(json.tasks.map((t: { name: string }) => t.name), ['ls-a', 'ls-bbbbbbbbbbbb', 'ls-c']);
    assert.equal(json.tasks[0].state, 'TASK_STATE_PAUSED');

    const limited = await ok(['--json', 'tasks', 'list', '--filter', 'labels.suite=list', '--limit', '2']);
    assert.equal(JSON.parse(limited).tasks.length, 2, 'global flags also go before the command');
  });

  test('tasks apply creates from a file; a second run changes nothing; --dry-run changes nothing; --prune deletes', async () => {
    const first = await ok(['tasks', 'apply', '-f', FIXTURE]);
    for (const name of FIXTURE_TASKS) assert.match(first, new RegExp(`^created +${name}$`, 'm'));
    assert.match(first, /^3 created, 0 updated, 0 unchanged, 0 deleted$/m);
    const hourly = (await h.client.getTask({ name: 'hourly-sync' })).task!;
    assert.equal(hourly.state, 2, 'state: paused in the file');
    const report = (await h.client.getTask({ name: 'nightly-report' })).task!;
    assert.equal(report.action!.kind.case === 'http' && new TextDecoder().decode(report.action!.kind.value.body), '{"format": "pdf"}');
    assert.equal(report.catchupWindow!.seconds, 600n);

    const before = await etags(FIXTURE_TASKS);
    const second = await ok(['tasks', 'apply', '-f', FIXTURE]);
    for (const name of FIXTURE_TASKS) assert.match(second, new RegExp(`^unchanged +${name}$`, 'm'));
    assert.match(second, /^0 created, 0 updated, 3 unchanged, 0 deleted$/m);
    assert.deepEqual(await etags(FIXTURE_TASKS), before, 'no task was written');

    // The next version of the file: one schedule changed, hourly-sync gone, weekly new.
    const changed = readFileSync(FIXTURE, 'utf8').replace('cron: "0 3 * * *"', 'cron: "0 4 * * *"').split('  - name: hourly-sync')[0] +
      '  - name: weekly\n    schedule: {cron: "@weekly"}\n    action: {nats_publish: {subject: jobs.weekly}}\n    labels: {owner: ops-repo}\n';
    const next = join(dir, 'next.yaml');
    writeFileSync(next, changed);

    const plan = await ok(['tasks', 'apply', '-f', next, '--prune', '--selector', 'owner=ops-repo', '--dry-run']);
    assert.match(plan, /^update +cleanup-cache +\(schedule\)$/m);
    assert.match(plan, /^unchanged +nightly-report$/m);
    assert.match(plan, /^create +weekly$/m);
    assert.match(plan, /^delete +hourly-sync$/m);
    assert.match(plan, /^dry run, nothing changed: 1 to create, 1 to update, 1 unchanged, 1 to delete$/m);
    assert.deepEqual(await etags(FIXTURE_TASKS), before, '--dry-run wrote nothing');
    assert.ok(await notFound('weekly'), '--dry-run created nothing');

    const applied = JSON.parse(await ok(['tasks', 'apply', '-f', next, '--prune', '--selector', 'owner=ops-repo', '--json']));
    assert.deepEqual(applied.steps, [
      { action: 'update', task: 'cleanup-cache', changes: ['schedule'] },
      { action: 'unchanged', task: 'nightly-report' },
      { action: 'create', task: 'weekly' },
      { action: 'delete', task: 'hourly-sync' },
    ]);
    assert.ok(await notFound('hourly-sync'));
    assert.equal((await h.client.getTask({ name: 'cleanup-cache' })).task!.schedule!.cron, '0 4 * * *');
    assert.ok(!(await notFound('flag-task')), 'tasks without the selector label are left alone');

    const refused = await cli(['tasks', 'apply', '-f', next, '--prune']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--prune needs --selector/);
  });

  test('executions watch prints live events, one line each, until interrupted', async () => {
    await h.client.createTask({
      task: { name: 'watched', schedule: { cron: '* * * * * *' }, action: { kind: { case: 'natsPublish', value: { subject: `${h.prefix}.watched` } } } },
    });
    const watcher = spawn(process.execPath, [CLI, 'executions', 'watch', '--task', 'watched', '--server', server], {
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    watcher.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    watcher.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => watcher.once('close', (code) => resolve(code)));
    let manualId = '';
    try {
      // A scheduled event shows that the stream is live; then a manual run must appear too.
      await eventually(() => (out.includes('\n') ? true : undefined), 6_000, `a first event line (stderr: ${err})`);
      const run = await h.client.runTask({ name: 'watched' });
      const id = run.execution!.id;
      manualId = id;
      const line = await eventually(
        () => out.split('\n').find((l) => l.includes(id) && /SUCCEEDED|FAILED/.test(l)),
        6_000,
        `the manual run's final event (got:\n${out})`,
      );
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z  #\d+ +watched  (SUCCEEDED|FAILED) +[0-9a-f-]{36}  manual  attempt 1/);
      assert.ok(out.split('\n').some((l) => l.includes(id) && l.includes('RUNNING')), 'the RUNNING event came too');
    } finally {
      watcher.kill('SIGINT');
    }
    assert.equal(await exited, 0, `Ctrl-C ends the watch cleanly (stderr: ${err})`);
    await h.client.pauseTask({ name: 'watched' });

    const history = await ok(['executions', 'list', '--task', 'watched', '--limit', '2']);
    const [header, ...rows] = history.trimEnd().split('\n');
    assert.match(header!, /^ID +TASK +STATE +TRIGGER +SCHEDULED +DURATION +ATTEMPTS +ERROR$/);
    assert.equal(rows.length, 2, 'a scheduled and the manual run');
    // The manual run, which has an attempt: the newest row may be an occurrence claimed ahead
    // and cancelled by the pause (no attempt).
    const id = manualId;
    const one = await ok(['executions', 'get', id]);
    assert.match(one, new RegExp(`^id: +${id}$`, 'm'));
    assert.match(one, /^ATTEMPT +STATE +STARTED +DURATION +ERROR$/m);
  });

  test('bad input: the error and its field in words on stderr, exit code 2, no stack trace', async () => {
    const bad = await cli(['tasks', 'create', 'bad-cron', '--cron', '0 0 32 * *', '--publish', 'jobs.x']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    assert.equal(bad.stderr, 'error: invalid argument\n  task.schedule.cron: day-of-month: value 32 out of range 1-31\n');

    const cases: Array<[string[], RegExp]> = [
      [['tasks', 'create', 'x', '--cron', '* * * * *'], /an action is required/],
      [['tasks', 'create', 'x', '--cron', '* * * * *', '--publish', 'a', '--http', 'http://x'], /choose one action/],
      [['tasks', 'create', 'x', '--cron', '* * * * *', '--publish', 'a', '--overlap', 'sometimes'], /--overlap takes one of skip, allow, buffer-one, cancel-previous/],
      [['tasks', 'create', 'x', '--cron', '* * * * *', '--publish', 'a', '--deadline', 'soon'], /--deadline takes a duration/],
      [['tasks', 'list', '--bogus'], /Unknown option '--bogus'/],
      [['tasks', 'frobnicate'], /unknown command "tasks frobnicate"/],
      [['tasks', 'update', 'flag-task'], /nothing to change/],
      [['tasks', 'list', '--filter', 'colour=blue'], /invalid argument\n  filter: at position 1: unknown key "colour"/],
      [['preview', '0 0 30 2 *'], /schedule\.cron: .*never fires/],
      [['executions', 'list', '--state', 'exploded'], /--state takes pending, running, succeeded/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, [args, pattern]] of cases.entries()) {
      const run = runs[i]!;
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, /^error: /);
      assert.match(run.stderr, pattern);
      assert.doesNotMatch(run.stderr, STACK_LINE);
    }

    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'tasks:\n  - name: a\n    attempt_deadline: soon\n    payload: x\n');
    const badFile = await cli(['tasks', 'apply', '-f', file]);
    assert.equal(badFile.code, 2);
    assert.match(badFile.stderr, /tasks\[0\]\.attempt_deadline: expected a duration/);
    assert.match(badFile.stderr, /tasks\[0\]\.payload: unknown field/);
  });

  test('failures that are not bad input exit 1: NOT_FOUND, UNAVAILABLE', async () => {
    const missing = await cli(['tasks', 'get', 'missing']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'error: task "missing" not found\n');
    const cancel = await cli(['executions', 'cancel', 'no-such-id']);
    assert.equal(cancel.code, 1);
    assert.match(cancel.stderr, /not found/);

    const down = await new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'tasks', 'list', '--server', '127.0.0.1:1'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /^error: unavailable: .*ECONNREFUSED/);
    assert.match(down.stderr, /hint: is the service running there\?/);
    assert.doesNotMatch(down.stderr, STACK_LINE);
  });

  test('preview lists the next times in the zone and in UTC', async () => {
    const out = await ok(['preview', '0 9 * * MON-FRI', '--tz', 'America/New_York', '-n', '3', '--from', '2026-03-06T00:00:00Z']);
    const lines = out.trimEnd().split('\n');
    assert.match(lines[0]!, /^# +TIME \(America\/New_York\) +UTC +WHEN$/);
    assert.match(lines[1]!, /^1 +2026-03-06 09:00:00 -05:00 Fri +2026-03-06T14:00:00Z /);
    assert.match(lines[2]!, /^2 +2026-03-09 09:00:00 -04:00 Mon +2026-03-09T13:00:00Z /, 'daylight saving time began');
    assert.match(lines[3]!, /^3 +2026-03-10 09:00:00 -04:00 Tue +2026-03-10T13:00:00Z /);
    const json = JSON.parse(await ok(['preview', '@daily', '-n', '2', '--json', '--from', '2026-01-01T12:00:00Z']));
    assert.deepEqual(json.times, ['2026-01-02T00:00:00Z', '2026-01-03T00:00:00Z']);
  });
});
