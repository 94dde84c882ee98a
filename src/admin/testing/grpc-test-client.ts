import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  create,
  type DescMessage,
  type DescService,
  fromBinary,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { createScratchDir, openssl } from "../../core/x509/testing/openssl.ts";
import type { ListenerTls } from "../../ops/listener-tls.ts";

/**
 * Test-only: a self-signed listener certificate for localhost/127.0.0.1
 * made by the real openssl, and @grpc/grpc-js calls driven by the
 * @bufbuild/protobuf schemas (a gRPC client that shares no code with
 * connect-node).
 */
export interface TestTls {
  readonly tls: ListenerTls;
  readonly certPem: string;
  /** The certificate as a file, for CLI clients (`buf curl --cacert`). */
  readonly certFile: string;
  cleanup(): void;
}

export function createTestTls(): TestTls {
  const scratch = createScratchDir();
  const certFile = join(scratch.dir, "listener.crt");
  const keyFile = join(scratch.dir, "listener.key");
  const result = openssl([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  if (!result.ok) throw new Error(`openssl req -x509 failed: ${result.stderr}`);
  const cert = readFileSync(certFile, "utf8");
  const key = readFileSync(keyFile, "utf8");
  const notAfter = new Date(new X509Certificate(cert).validTo);
  return {
    tls: { current: () => ({ cert, key, notAfter }), onRenew() {}, stop() {} },
    certPem: cert,
    certFile,
    cleanup: () => scratch.cleanup(),
  };
}

/** A grpc-js client for `address` ("127.0.0.1:port") trusting only the test certificate. */
export function createGrpcClient(address: string, certPem: string): grpc.Client {
  // SNI and the name checked are "localhost" (also in the certificate): RFC 6066 §3 forbids an IP address as SNI.
  return new grpc.Client(address, grpc.credentials.createSsl(Buffer.from(certPem)), {
    "grpc.ssl_target_name_override": "localhost",
  });
}

interface MethodSchemas<I extends DescMessage, O extends DescMessage> {
  readonly name: string;
  readonly parent: DescService;
  readonly input: I;
  readonly output: O;
}

function codec<I extends DescMessage, O extends DescMessage>(method: MethodSchemas<I, O>) {
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    serialize: (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
    deserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
  };
}

/** A unary gRPC call; rejects with the grpc-js ServiceError (`code`, `details`). */
export function grpcUnary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: MethodSchemas<I, O>,
  request: MessageInitShape<I>,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  const { path, serialize, deserialize } = codec(method);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      path,
      serialize,
      deserialize,
      create(method.input, request),
      metadata,
      { deadline: Date.now() + 10_000 },
      (err, response) => (err || !response ? reject(err) : resolve(response)),
    );
  });
}

export function grpcServerStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: MethodSchemas<I, O>,
  request: MessageInitShape<I>,
): grpc.ClientReadableStream<MessageShape<O>> {
  const { path, serialize, deserialize } = codec(method);
  return client.makeServerStreamRequest(path, serialize, deserialize, create(method.input, request));
}

export function grpcBidiStream<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: MethodSchemas<I, O>,
): grpc.ClientDuplexStream<MessageShape<I>, MessageShape<O>> {
  const { path, serialize, deserialize } = codec(method);
  return client.makeBidiStreamRequest(path, serialize, deserialize);
}

/**
 * Reads a stream message by message: `next()` resolves with the next one
 * that arrives (or rejects with the stream's error), with a time limit so a
 * missing message fails the test instead of hanging it.
 */
export function messageQueue<T>(stream: NodeJS.EventEmitter): { next(timeoutMs?: number): Promise<T> } {
  const buffered: T[] = [];
  const waiting: Array<{ resolve(value: T): void; reject(err: Error): void }> = [];
  let failure: Error | undefined;
  stream.on("data", (message: T) => {
    const waiter = waiting.shift();
    if (waiter) waiter.resolve(message);
    else buffered.push(message);
  });
  const fail = (err: Error) => {
    failure = err;
    for (const waiter of waiting.splice(0)) waiter.reject(err);
  };
  stream.on("error", fail);
  stream.on("end", () => fail(new Error("stream ended")));
  return {
    next(timeoutMs = 5_000) {
      const message = buffered.shift();
      if (message !== undefined) return Promise.resolve(message);
      if (failure) return Promise.reject(failure);
      return new Promise<T>((resolve, reject) => {
        const waiter = {
          resolve: (value: T) => {
            clearTimeout(timer);
            resolve(value);
          },
          reject: (err: Error) => {
            clearTimeout(timer);
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(waiter), 1);
          reject(new Error(`no message within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.push(waiter);
      });
    },
  };
}
