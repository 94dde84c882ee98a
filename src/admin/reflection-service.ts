import {
  create,
  type DescEnum,
  type DescFile,
  type DescMessage,
  type FileRegistry,
  toBinary,
} from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../gen/grpc/reflection/v1alpha/reflection_pb.js";

export interface ReflectionOptions {
  /**
   * Files to describe besides those of the services registered on the router
   * (which are always included, with their imports), e.g. a registry with
   * message types that only travel inside google.protobuf.Any.
   */
  readonly files?: readonly DescFile[] | FileRegistry;
}

/**
 * The request fields grpc.reflection.v1 and v1alpha share (the two protos
 * are the same apart from the package), so one implementation serves both.
 */
interface ReflectionRequest {
  readonly host: string;
  readonly messageRequest:
    | {
        readonly case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
        readonly value: string;
      }
    | {
        readonly case: "fileContainingExtension";
        readonly value: { readonly containingType: string; readonly extensionNumber: number };
      }
    | { readonly case: undefined; readonly value?: undefined };
}

type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** What a reflection stream answers from: built once from the router's handlers and the given files. */
interface ReflectionIndex {
  readonly services: readonly string[];
  readonly files: ReadonlyMap<string, DescFile>;
  /** Fully-qualified name (no leading dot) of every message, field, oneof, enum, enum value, service, method and extension → its file. */
  readonly symbols: ReadonlyMap<string, DescFile>;
  /** Extendee type name → extension number → the file declaring the extension. */
  readonly extensions: ReadonlyMap<string, ReadonlyMap<number, DescFile>>;
  readonly messageTypes: ReadonlySet<string>;
  serialized(file: DescFile): Uint8Array;
}

/**
 * Registers gRPC server reflection, grpc.reflection.v1 and v1alpha
 * (https://github.com/grpc/grpc/blob/master/doc/server-reflection.md), so
 * grpcurl, `buf curl`, Postman and grpcui can call the admin API without our
 * .proto files. connect-node has none built in. ServerReflectionInfo is a
 * bidi stream, so it needs HTTP/2 (gRPC, or Connect over HTTP/2).
 *
 * Services are listed from the router's handlers when the first stream
 * opens, so services registered after this call are included too, as are
 * the health and reflection services themselves.
 */
export function registerReflection(router: ConnectRouter, options: ReflectionOptions = {}): ConnectRouter {
  const extraFiles: readonly DescFile[] = options.files
    ? Array.isArray(options.files)
      ? options.files
      : [...(options.files as FileRegistry).files]
    : [];
  let cached: { handlerCount: number; index: ReflectionIndex } | undefined;
  function currentIndex(): ReflectionIndex {
    if (cached?.handlerCount !== router.handlers.length) {
      const services = new Map(router.handlers.map((handler) => [handler.service.typeName, handler.service]));
      const index = buildIndex([...services.keys()].sort(), [
        ...extraFiles,
        ...[...services.values()].map((service) => service.file),
      ]);
      cached = { handlerCount: router.handlers.length, index };
    }
    return cached.index;
  }

  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const session = createSession(currentIndex());
      for await (const request of requests) {
        yield create(v1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: session.answer(request),
        });
      }
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      const session = createSession(currentIndex());
      for await (const request of requests) {
        yield create(v1alpha.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: session.answer(request),
        });
      }
    },
  });
  return router;
}

/** One stream's state: which files it has been sent already. */
function createSession(index: ReflectionIndex): { answer(request: ReflectionRequest): ReflectionAnswer } {
  const sent = new Set<string>();

  // The file, then its imports transitively. server-reflection.md lets the
  // server skip files sent earlier on the same stream; like grpc-go, the
  // requested file always goes out and each import only once per stream.
  function withDependencies(root: DescFile): ReflectionAnswer {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const queue = [root];
    for (let file = queue.shift(); file; file = queue.shift()) {
      if (seen.has(file.proto.name)) continue;
      seen.add(file.proto.name);
      if (file === root || !sent.has(file.proto.name)) {
        sent.add(file.proto.name);
        out.push(index.serialized(file));
      }
      queue.push(...file.dependencies);
    }
    return { case: "fileDescriptorResponse", value: { fileDescriptorProto: out } };
  }

  function notFound(message: string): ReflectionAnswer {
    return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage: message } };
  }

  return {
    answer(request) {
      const req = request.messageRequest;
      switch (req.case) {
        case "listServices":
          // The field's content "will not be checked" (reflection.proto).
          return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
        case "fileByFilename": {
          const file = index.files.get(req.value);
          return file ? withDependencies(file) : notFound(`file not found: ${req.value}`);
        }
        case "fileContainingSymbol": {
          const file = index.symbols.get(stripLeadingDot(req.value));
          return file ? withDependencies(file) : notFound(`symbol not found: ${req.value}`);
        }
        case "fileContainingExtension": {
          const { containingType, extensionNumber } = req.value;
          const file = index.extensions.get(stripLeadingDot(containingType))?.get(extensionNumber);
          return file
            ? withDependencies(file)
            : notFound(`extension ${extensionNumber} of ${containingType} not found`);
        }
        case "allExtensionNumbersOfType": {
          const typeName = stripLeadingDot(req.value);
          const numbers = index.extensions.get(typeName);
          // A known message without extensions has an empty list; an unknown name is NOT_FOUND (as grpc-go).
          if (!numbers && !index.messageTypes.has(typeName)) return notFound(`type not found: ${req.value}`);
          return {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: req.value, extensionNumber: [...(numbers?.keys() ?? [])].sort((a, b) => a - b) },
          };
        }
        default:
          // Answered on the stream rather than ending it, so the client can go on.
          return {
            case: "errorResponse",
            value: { errorCode: Code.InvalidArgument, errorMessage: "the request sets no message_request" },
          };
      }
    },
  };
}

function buildIndex(services: readonly string[], roots: readonly DescFile[]): ReflectionIndex {
  const files = new Map<string, DescFile>();
  const queue = [...roots];
  for (let file = queue.shift(); file; file = queue.shift()) {
    if (files.has(file.proto.name)) continue;
    files.set(file.proto.name, file);
    queue.push(...file.dependencies);
  }

  const symbols = new Map<string, DescFile>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const messageTypes = new Set<string>();
  for (const file of files.values()) {
    const add = (name: string) => {
      if (!symbols.has(name)) symbols.set(name, file);
    };
    const addExtension = (extendee: string, number: number) => {
      const numbers = extensions.get(extendee) ?? new Map<number, DescFile>();
      extensions.set(extendee, numbers);
      if (!numbers.has(number)) numbers.set(number, file);
    };
    // Enum values are scoped as siblings of their enum (descriptor.proto, EnumValueDescriptorProto).
    const addEnum = (desc: DescEnum, scope: string) => {
      add(desc.typeName);
      for (const value of desc.values) add(scope ? `${scope}.${value.name}` : value.name);
    };
    const addMessage = (desc: DescMessage) => {
      add(desc.typeName);
      messageTypes.add(desc.typeName);
      for (const field of desc.fields) add(`${desc.typeName}.${field.name}`);
      for (const oneof of desc.oneofs) add(`${desc.typeName}.${oneof.name}`);
      for (const nested of desc.nestedMessages) addMessage(nested);
      for (const nested of desc.nestedEnums) addEnum(nested, desc.typeName);
      for (const ext of desc.nestedExtensions) {
        add(ext.typeName);
        addExtension(ext.extendee.typeName, ext.number);
      }
    };
    for (const message of file.messages) addMessage(message);
    for (const enumDesc of file.enums) addEnum(enumDesc, file.proto.package);
    for (const ext of file.extensions) {
      add(ext.typeName);
      addExtension(ext.extendee.typeName, ext.number);
    }
    for (const service of file.services) {
      add(service.typeName);
      for (const method of service.methods) add(`${service.typeName}.${method.name}`);
    }
  }

  const encoded = new Map<string, Uint8Array>();
  return {
    services,
    files,
    symbols,
    extensions,
    messageTypes,
    serialized(file) {
      let bytes = encoded.get(file.proto.name);
      if (!bytes) {
        bytes = toBinary(FileDescriptorProtoSchema, file.proto);
        encoded.set(file.proto.name, bytes);
      }
      return bytes;
    },
  };
}

function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}
