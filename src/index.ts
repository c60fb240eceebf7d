/** The package's public surface: the typed client and the generated API types. */
export { createSchedulerClient, type SchedulerClient, type SchedulerClientOptions, type CallOptions } from './client/scheduler-client.js';
export { badRequestFromMetadata } from './grpc/error-mapping.js';
export * from './gen/cronplane/v1/task_pb.js';
export * from './gen/cronplane/v1/execution_pb.js';
export * from './gen/cronplane/v1/scheduler_service_pb.js';
