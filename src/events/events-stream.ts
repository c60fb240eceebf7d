import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

export interface EventsStreamSettings {
  name: string;
  subjectPrefix: string;
  /** How long events are kept in the stream, ms. */
  maxAgeMs: number;
  replicas: number;
}

/** The window in which JetStream drops a re-published event with the same Nats-Msg-Id. */
const DUPLICATE_WINDOW_MS = 10 * 60_000;

/**
 * Create the events stream over `<prefix>.executions.>` and `<prefix>.tasks.>`, or bring an
 * existing one's subjects, age and replicas to what is configured.
 */
export async function ensureEventsStream(nc: NatsConnection, settings: EventsStreamSettings): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const subjects = [`${settings.subjectPrefix}.executions.>`, `${settings.subjectPrefix}.tasks.>`];
  const nanos = (ms: number) => ms * 1_000_000;
  const wanted = {
    subjects,
    max_age: nanos(settings.maxAgeMs),
    duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, settings.maxAgeMs)),
    num_replicas: settings.replicas,
  };
  try {
    const info = await jsm.streams.info(settings.name);
    const c = info.config;
    const same = c.max_age === wanted.max_age && c.num_replicas === wanted.num_replicas
      && c.duplicate_window === wanted.duplicate_window
      && subjects.every((s) => c.subjects?.includes(s));
    if (!same) {
      await jsm.streams.update(settings.name, { ...c, ...wanted, subjects: [...new Set([...(c.subjects ?? []), ...subjects])] });
    }
  } catch (err) {
    if (!/stream not found/i.test((err as Error).message)) throw err;
    await jsm.streams.add({
      name: settings.name,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      ...wanted,
    });
  }
}
