import { create } from "@bufbuild/protobuf";
import { describe, expect, it, vi } from "vitest";
import { UserSchema } from "../gen/chancery/admin/v1/user_pb.js";
import type { AdminClients } from "./admin-client.ts";
import type { CommandContext } from "./cli-context.ts";
import { type ResourceCommand, runResourceCommand, unknownAction } from "./resource-command.ts";

/** A resource that records what it was asked: runResourceCommand's dispatch, without a gateway. */
function resource(mask: string[]) {
  const calls: string[] = [];
  const spec: ResourceCommand<typeof UserSchema, { username: string }> = {
    command: "test thing",
    noun: "thing",
    schema: UserSchema,
    columns: [["NAME", (m) => m.name]],
    resolve: async (_api, given) => `things/${given}`,
    flags: async () => ({ fields: { username: "u" }, mask }),
    list: async () => [],
    get: async (_api, name) => create(UserSchema, { name }),
    create: async (context, fields) => {
      calls.push(`create ${context.args[0]} ${fields.username}`);
      return create(UserSchema, { name: `things/${context.args[0]}` });
    },
    update: async (_api, name, _fields, paths) => {
      calls.push(`update ${name} ${paths.join(",")}`);
      return create(UserSchema, { name });
    },
    remove: async (_api, name) => calls.push(`delete ${name}`),
  };
  return { spec, calls };
}

const context = (args: string[]): CommandContext => ({
  api: {} as AdminClients,
  format: "json",
  flags: {},
  args,
  env: {},
});

describe("runResourceCommand", () => {
  it("runs create, update with the mask, and delete against the resolved name", async () => {
    const { spec, calls } = resource(["username"]);
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      expect(await runResourceCommand(spec, "create", context(["a"]))).toBe(true);
      expect(await runResourceCommand(spec, "update", context(["a"]))).toBe(true);
      expect(await runResourceCommand(spec, "delete", context(["a"]))).toBe(true);
      expect(write).toHaveBeenLastCalledWith("deleted things/a\n");
    } finally {
      write.mockRestore();
    }
    expect(calls).toEqual(["create a u", "update things/a username", "delete things/a"]);
  });

  it("refuses an update that sets nothing, and leaves unknown actions to the caller", async () => {
    const { spec, calls } = resource([]);
    await expect(runResourceCommand(spec, "update", context(["a"]))).rejects.toThrow(
      "nothing to update: give at least one thing flag",
    );
    expect(await runResourceCommand(spec, "rotate", context(["a"]))).toBe(false);
    expect(calls).toEqual([]);
    expect(unknownAction("test thing", "rotate").message).toBe('unknown command "test thing rotate"');
  });
});
