import { emptyTaskSpec, type Task } from '../../src/domain/task.js';
import { normalizeTaskSpec, validateTaskSpec } from '../../src/domain/task-validation.js';
import { uuidv7 } from '../../src/engine/ids.js';
import { mixedSchedule, scaleTaskName, teamLabel } from './schedules.js';
import { PAYLOAD } from './task-specs.js';

/**
 * Task `i` of the scale suite's mix, built and validated exactly as CreateTask would, starting
 * at `startTime` (tomorrow in the suite: registered tasks, not firing ones).
 */
export function scaleTask(i: number, now: number, startTime: number, subject: string): Task {
  const spec = emptyTaskSpec(scaleTaskName(i));
  spec.schedule = mixedSchedule(i);
  spec.labels = teamLabel(i);
  spec.startTime = startTime;
  spec.action = { kind: 'natsPublish', subject, payload: PAYLOAD, headers: {}, jetstream: false };
  const normal = normalizeTaskSpec(spec);
  validateTaskSpec(normal, 'task', now);
  return {
    ...normal,
    action: normal.action!,
    pausedReason: '',
    createTime: now,
    updateTime: now,
    etag: uuidv7(now),
    runCount: 0,
    consecutiveFailures: 0,
    createdBy: '',
    updatedBy: '',
    scheduleAnchor: now,
    createRequestId: '',
  };
}
