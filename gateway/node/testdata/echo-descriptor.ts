import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, setExtension, toBinary, type DescExtension, type DescMessage } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MethodOptionsSchema,
} from "@bufbuild/protobuf/wkt";
import type { ServiceDefinition } from "@grpc/grpc-js";
import { loadRegistry } from "../http-rules.js";

/**
 * A test-only contract, `gwtest.v1.EchoService`, built as a descriptor set at test time. rag.v1 has no GET
 * whose request carries nested messages, repeated fields, int64s or Timestamps, so the query-parameter
 * rules are exercised here; it also shows a second descriptor set served beside gen/rag.binpb. The
 * upstream returns the request bytes unchanged, so the response shows exactly the message the gateway built.
 *
 *   enum Color { COLOR_UNSPECIFIED = 0; COLOR_RED = 1; COLOR_BLUE = 2; }
 *   message Filter { repeated string tags = 1; int32 depth = 2; Color color = 3; repeated Color colors = 4;
 *                    google.protobuf.Timestamp after = 5; }
 *   message EchoRequest { string id = 1; int64 big = 2; Color color = 3; bool flag = 4; repeated string tags = 5;
 *                         Filter filter = 6; google.protobuf.Timestamp at = 7; repeated int64 counts = 8;
 *                         map<string, string> labels = 9; }
 *   service EchoService {
 *     rpc Echo(EchoRequest) returns (EchoRequest) {
 *       get: "/v2/echo/{id}"
 *       additional_bindings { get: "/v2/echo/{id}/filter" response_body: "filter" }
 *       additional_bindings { post: "/v2/echo/{id}/filter" body: "filter" }
 *       additional_bindings { get: "/v2/depth/{filter.depth}/{id=items/*}" }
 *     }
 *   }
 */
export const ECHO_PATH = "/gwtest.v1.EchoService/Echo";

type FieldInit = { name: string; number: number; type: Type; label?: Label; typeName?: string };

function field({ name, number, type, label = Label.OPTIONAL, typeName }: FieldInit) {
  const jsonName = name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return { name, number, type, label, typeName, jsonName };
}

/** Writes the echo descriptor set to a fresh temp file and returns its path. */
export function writeEchoDescriptorSet(ragDescriptorSet = "gen/rag.binpb"): string {
  // google.api.http and HttpRule come from the rag set, which imports google/api/annotations.proto.
  const rag = loadRegistry([ragDescriptorSet]);
  const http = rag.getExtension("google.api.http") as DescExtension;
  const httpRule = rag.getMessage("google.api.HttpRule") as DescMessage;
  const rule = (init: Record<string, unknown>) => create(httpRule, init as never);

  const options = create(MethodOptionsSchema);
  setExtension(
    options,
    http,
    rule({
      pattern: { case: "get", value: "/v2/echo/{id}" },
      additionalBindings: [
        rule({ pattern: { case: "get", value: "/v2/echo/{id}/filter" }, responseBody: "filter" }),
        rule({ pattern: { case: "post", value: "/v2/echo/{id}/filter" }, body: "filter" }),
        rule({ pattern: { case: "get", value: "/v2/depth/{filter.depth}/{id=items/*}" } }),
      ],
    }) as never,
  );

  const file = create(FileDescriptorProtoSchema, {
    name: "gwtest/v1/echo.proto",
    package: "gwtest.v1",
    syntax: "proto3",
    dependency: ["google/api/annotations.proto", "google/protobuf/timestamp.proto"],
    enumType: [{ name: "Color", value: [{ name: "COLOR_UNSPECIFIED", number: 0 }, { name: "COLOR_RED", number: 1 }, { name: "COLOR_BLUE", number: 2 }] }],
    messageType: [
      {
        name: "Filter",
        field: [
          field({ name: "tags", number: 1, type: Type.STRING, label: Label.REPEATED }),
          field({ name: "depth", number: 2, type: Type.INT32 }),
          field({ name: "color", number: 3, type: Type.ENUM, typeName: ".gwtest.v1.Color" }),
          field({ name: "colors", number: 4, type: Type.ENUM, label: Label.REPEATED, typeName: ".gwtest.v1.Color" }),
          field({ name: "after", number: 5, type: Type.MESSAGE, typeName: ".google.protobuf.Timestamp" }),
        ],
      },
      {
        name: "EchoRequest",
        field: [
          field({ name: "id", number: 1, type: Type.STRING }),
          field({ name: "big", number: 2, type: Type.INT64 }),
          field({ name: "color", number: 3, type: Type.ENUM, typeName: ".gwtest.v1.Color" }),
          field({ name: "flag", number: 4, type: Type.BOOL }),
          field({ name: "tags", number: 5, type: Type.STRING, label: Label.REPEATED }),
          field({ name: "filter", number: 6, type: Type.MESSAGE, typeName: ".gwtest.v1.Filter" }),
          field({ name: "at", number: 7, type: Type.MESSAGE, typeName: ".google.protobuf.Timestamp" }),
          field({ name: "counts", number: 8, type: Type.INT64, label: Label.REPEATED }),
          field({ name: "labels", number: 9, type: Type.MESSAGE, label: Label.REPEATED, typeName: ".gwtest.v1.EchoRequest.LabelsEntry" }),
        ],
        nestedType: [
          {
            name: "LabelsEntry",
            field: [field({ name: "key", number: 1, type: Type.STRING }), field({ name: "value", number: 2, type: Type.STRING })],
            options: { mapEntry: true },
          },
        ],
      },
    ],
    service: [{ name: "EchoService", method: [{ name: "Echo", inputType: ".gwtest.v1.EchoRequest", outputType: ".gwtest.v1.EchoRequest", options }] }],
  });

  const path = join(mkdtempSync(join(tmpdir(), "gateway-echo-")), "echo.binpb");
  writeFileSync(path, toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: [file] })));
  return path;
}

const identity = (b: Buffer): Buffer => b;

/** grpc-js definition of the echo service on raw bytes, for a test server. */
export const echoServiceDefinition: ServiceDefinition = {
  echo: {
    path: ECHO_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};
