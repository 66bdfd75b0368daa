export { ATTRIBUTE_KEYS, Attr } from './attributes';
export type { AttributeName } from './attributes';
export { ERRNO_NAMES, EVENT_NAMES, Severity, writeLogRecord } from './record';
export type { LogRecordWriter, SeverityLevel } from './record';
export { DEFAULT_SERVICE_NAME, ResourceCache, SCOPE, parseImageReference, resourceAttributes, workloadAttributes } from './resource';
export {
  DEFAULT_POD_LABELS,
  MAX_KEY_BYTES,
  PodMetadataPolicy,
  countedPodMetadataPolicy,
  createDefaultPodMetadataConfig,
  cutUtf8,
  podMetadataCutCounter,
  validatePodMetadataConfig,
} from './pod-metadata';
export type { PodMetadataConfig } from './pod-metadata';
export type { ImageReference, ResourceAttribute } from './resource';
