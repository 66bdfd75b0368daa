export { EventBatch, formatIPv6 } from './batch';
export type { CgroupChange, ParseResult, RecordContainers } from './batch';
export { BootClock } from './clock';
export type { ClockSource } from './clock';
export type { ContainerInfo, ContainerState, KubernetesInfo, RuntimeName, WorkloadInfo, WorkloadKind } from './container';
export { encodeRecord, encodeRecords } from './encode';
export type { RecordCommon, RecordSpec } from './encode';
export { CgroupRecord, EVENT_TYPE_NAMES, EventType, eventTypeName } from './record';
export type { EventTypeName } from './record';
