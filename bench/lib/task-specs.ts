import type { MessageInitShape } from '@bufbuild/protobuf';
import type { TaskSchema } from '../../src/gen/cronplane/v1/task_pb.js';

export const PAYLOAD = new TextEncoder().encode('{"bench":true}');

export type TaskInit = MessageInitShape<typeof TaskSchema>;

/** A CreateTask `task` for a nats_publish task. */
export function publishTask(name: string, cron: string, subject: string, timeZone = '', labels: Record<string, string> = {}): TaskInit {
  return {
    name,
    schedule: { cron, timeZone },
    labels,
    action: { kind: { case: 'natsPublish', value: { subject, payload: PAYLOAD } } },
  };
}
