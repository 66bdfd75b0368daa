export { EventBatch, formatIPv6 } from './batch';
export type { CgroupChange, ParseResult, RecordContainers } from './batch';
export { BootClock } from './clock';
export type { ClockSource } from './clock';
export type { ContainerInfo, ContainerState, KubernetesInfo, RuntimeName, WorkloadInfo, WorkloadKind } from './container';
export { encodeRecord, encodeRecords } from './encode';
export type { RecordCommon, RecordSpec } from './encode';
export { EVENT_TYPE_NAMES, RECORD_TYPE_NAMES, RecordType, TRACED_EVENT_NAMES, eventTypeName } from './record';
export type { EventTypeName, RecordTypeName, TracedEventName } from './record';
