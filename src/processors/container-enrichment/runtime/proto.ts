import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as protobuf from 'protobufjs';
import { PACKAGE_ROOT } from '../../../pipeline/paths';

/** Our minimal, wire-compatible subsets of the containerd and CRI protos (see proto/). */
export const PROTO_DIR = path.join(PACKAGE_ROOT, 'proto');

export const CONTAINERD_PROTOS = [
  'containerd/services/namespaces/v1/namespace.proto',
  'containerd/services/containers/v1/containers.proto',
  'containerd/services/tasks/v1/tasks.proto',
  'containerd/services/images/v1/images.proto',
  'containerd/services/events/v1/events.proto',
  'containerd/services/version/v1/version.proto',
  'containerd/events/task.proto',
];
export const CRI_PROTOS = ['cri/runtime/v1/api.proto'];

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  includeDirs: [PROTO_DIR],
};

type ServiceCtor = grpc.ServiceClientConstructor;
type Namespace = { [name: string]: Namespace & ServiceCtor };

let grpcRoot: Namespace | undefined;
let eventsRoot: protobuf.Root | undefined;

function loadGrpc(): Namespace {
  grpcRoot ??= grpc.loadPackageDefinition(
    protoLoader.loadSync([...CONTAINERD_PROTOS, ...CRI_PROTOS], LOADER_OPTIONS),
  ) as unknown as Namespace;
  return grpcRoot;
}

/** A gRPC service constructor by full name, e.g. `containerd.services.tasks.v1.Tasks`. */
export function serviceClient(fullName: string): ServiceCtor {
  let node: Namespace = loadGrpc();
  for (const part of fullName.split('.')) node = node[part];
  if (typeof node !== 'function') throw new Error(`gRPC service ${fullName} is not defined in ${PROTO_DIR}`);
  return node;
}

/**
 * Decodes the Any payload of a containerd event envelope (`containerd.events.TaskExit`, …).
 * Returns undefined for payload types our subset does not describe.
 */
export function decodeContainerdEvent(typeUrl: string, value: Uint8Array): Record<string, unknown> | undefined {
  eventsRoot ??= new protobuf.Root().loadSync(path.join(PROTO_DIR, 'containerd/events/task.proto'), { keepCase: true });
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const type = eventsRoot.lookup(name);
  if (!(type instanceof protobuf.Type)) return undefined;
  return type.toObject(type.decode(value), { longs: Number, defaults: true }) as Record<string, unknown>;
}

/**
 * Channel options of every runtime client: answers up to 16 MiB, as the kubelet and containerd's
 * own client take (gRPC's default is 4 MiB). A listing carries every pod's labels and annotations
 * (containerd: twice, on the sandbox container and in the CRI plugin's metadata), and Kubernetes
 * allows 256 KiB of annotations per pod, so a few pods heavy with them would fail every listing.
 */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = { 'grpc.max_receive_message_length': 16 * 1024 * 1024 };

/** Unary call as a promise, with a deadline so a hung daemon cannot stall a caller. */
export function unary<Res>(client: grpc.Client, method: string, request: object, metadata: grpc.Metadata, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, grpc.requestCallback<Res> & ((...a: unknown[]) => void)>)[method];
    fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res?: Res) =>
      err ? reject(err) : resolve(res as Res),
    );
  });
}
