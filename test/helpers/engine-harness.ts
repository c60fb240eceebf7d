import { mkdtempSync, rmSync } from 'node:fs';
import { after } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Execution, ExecutionEvent } from '../../src/domain/execution.js';
import { emptyTaskSpec, type TaskSpec } from '../../src/domain/task.js';
import { ControlPlane } from '../../src/engine/control-plane.js';
import { Engine } from '../../src/engine/engine.js';
import { FakeClock } from '../../src/engine/fake-clock.js';
import { WatchHub } from '../../src/events/watch-hub.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { ScriptedActions } from './scripted-actions.js';

/** For a test file: `harness()` starts a fresh EngineHarness; all of them are cleaned up after the file. */
export function harnessPerTest(): () => Promise<EngineHarness> {
  const started: EngineHarness[] = [];
  after(async () => {
    for (const h of started) await h.cleanup();
  });
  return async () => {
    const h = await new EngineHarness().start();
    started.push(h);
    return h;
  };
}

export const CONTEXT = { requestId: 'test', principal: '', createRequestId: '' };

/** A real SQLite file in a temp dir, a fake clock and a scripted action port around a real engine. */
export class EngineHarness {
  readonly dir: string;
  readonly events: ExecutionEvent[] = [];
  readonly errors: unknown[] = [];
  store!: SqliteStore;
  engine!: Engine;
  api!: ControlPlane;
  hub!: WatchHub;
  /**
   * Fault injection on the engine's execution writes (the real store behind it): return an
   * error to make that write fail, as an outage of the store would.
   */
  failWrite: ((execution: Execution) => Error | undefined) | undefined;
  /**
   * Delay injection on the engine's execution writes: return a promise to hold that write until
   * it settles (a slow store); then it goes on as usual (failWrite still applies).
   */
  holdWrite: ((execution: Execution) => Promise<void> | undefined) | undefined;
  /** The engine's getTask reads, by task name, in order (it reads a task loaded from its plan when it fires). */
  readonly taskReads: string[] = [];
  /** Delay injection on the engine's getTask: return a promise to hold the answer (read at the call) until it settles. */
  holdTaskRead: ((name: string) => Promise<void> | undefined) | undefined;

  constructor(readonly clock = new FakeClock(Date.UTC(2026, 0, 1, 0, 0, 0)), readonly actions = new ScriptedActions(clock), dir?: string) {
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'cronplane-engine-'));
  }

  /** Open the store and start the engine (again, after `crash` or `shutdown`). */
  async start(): Promise<this> {
    this.store = SqliteStore.open(join(this.dir, 'cronplane.db'), { writerThread: false }) // fake clock: writes settle within a few turns;
    this.hub = new WatchHub(this.store);
    const store = this.store;
    const engineStore = new Proxy(store, {
      get: (target, prop) => {
        if (prop === 'recordExecution') {
          return (e: Execution, ev: { id: string; time: number }, o?: { claim?: boolean }) => {
            const write = () => {
              const err = this.failWrite?.(e);
              return err !== undefined ? Promise.reject(err) : target.recordExecution(e, ev, o);
            };
            const hold = this.holdWrite?.(e);
            return hold === undefined ? write() : hold.then(write);
          };
        }
        if (prop === 'recordTwoChanges') {
          // Both changes in one write: it fails or waits as either of them would alone.
          type Change = { execution: Execution; event: { id: string; time: number } };
          return (first: Change, then: Change) => {
            const write = () => {
              const err = this.failWrite?.(first.execution) ?? this.failWrite?.(then.execution);
              return err !== undefined ? Promise.reject(err) : target.recordTwoChanges(first, then);
            };
            const holds = [this.holdWrite?.(first.execution), this.holdWrite?.(then.execution)].filter((h) => h !== undefined);
            return holds.length === 0 ? write() : Promise.all(holds).then(write);
          };
        }
        if (prop === 'getTask') {
          return (name: string) => {
            this.taskReads.push(name);
            const hold = this.holdTaskRead?.(name);
            const read = target.getTask(name);
            return hold === undefined ? read : hold.then(() => read);
          };
        }
        const value = Reflect.get(target, prop) as unknown;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    this.engine = new Engine({
      store: engineStore,
      clock: this.clock,
      actions: this.actions,
      node: 'test-node',
      onEvent: (e) => { this.events.push(e); this.hub.publish(e); },
      onError: (err) => this.errors.push(err),
      random: () => 0.5,
    });
    this.api = new ControlPlane({ store: this.store, engine: this.engine, clock: this.clock, watch: (q, s) => this.hub.watch(q, s) });
    await this.engine.start();
    return this;
  }

  /** Stop without grace and close the store, as if the process had died between fires. */
  async halt(): Promise<void> {
    await this.engine.stop(0);
    await this.store.close();
  }

  async cleanup(): Promise<void> {
    await this.store.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  spec(name: string, cron: string, patch: Partial<TaskSpec> = {}): TaskSpec {
    return {
      ...emptyTaskSpec(name),
      schedule: { cron, timeZone: '' },
      action: { kind: 'natsPublish', subject: `jobs.${name}`, payload: new Uint8Array(), headers: {}, jetstream: false },
      ...patch,
    };
  }

  async create(name: string, cron: string, patch: Partial<TaskSpec> = {}) {
    return this.api.createTask(this.spec(name, cron, patch), CONTEXT);
  }

  /**
   * Move fake time by `ms` without firing the timers due on the way, as a stalled event loop
   * (or a wall-clock jump) would; the overdue timers then fire late, at the new time.
   */
  async jump(ms: number): Promise<void> {
    (this.clock as unknown as { current: number }).current += ms;
    await this.clock.advance(0);
  }

  /** Advance fake time; due timers fire in order and promise work settles between them. */
  async advance(ms: number): Promise<void> {
    await this.clock.advance(ms);
  }

  /**
   * Executions of a task, oldest first, by scheduled time; not those claimed ahead of a time
   * still to come (stored PENDING up to claimAheadMs before it).
   */
  async finals(task: string) {
    const { executions } = await this.store.listExecutions({ taskName: task, states: [], limit: 1000, beforeKey: '' });
    const now = this.clock.now();
    return executions.filter((e) => !(e.state === 'PENDING' && e.scheduledTime > now)).reverse();
  }

  statesOf(task: string): string[] {
    return this.events.filter((e) => e.execution.taskName === task).map((e) => e.execution.state);
  }
}
