export { ATTRIBUTE_KEYS, Attr } from './attributes';
export type { AttributeName } from './attributes';
export { ERRNO_NAMES, EVENT_NAMES, Severity, writeLogRecord } from './record';
export type { LogRecordWriter, SeverityLevel } from './record';
export { DEFAULT_SERVICE_NAME, ResourceCache, SCOPE, parseImageReference, resourceAttributes } from './resource';
export type { ImageReference, ResourceAttribute } from './resource';
