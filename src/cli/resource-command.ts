import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import type { AdminClients } from "./admin-client.ts";
import { type Columns, type CommandContext, print, UsageError } from "./cli-context.ts";

/**
 * One admin resource the CLI lists, shows, creates, updates by field mask and
 * deletes (an ACME directory, an EST label, a SCEP endpoint): what differs
 * between them, for runResourceCommand to do the rest the same way.
 */
export interface ResourceCommand<D extends DescMessage, F> {
  /** "est label": the words before the action, for errors. */
  readonly command: string;
  /** "label": in "give at least one label flag". */
  readonly noun: string;
  readonly schema: D;
  readonly columns: Columns<D>;
  /** The resource name ("estLabels/{id}") of what the user typed (a name, an id or a resource name). */
  resolve(api: AdminClients, given: string | undefined): Promise<string>;
  /** The resource fields the flags set, and their field-mask paths. */
  flags(context: CommandContext): Promise<{ fields: F; mask: string[] }>;
  list(api: AdminClients): Promise<MessageShape<D>[]>;
  get(api: AdminClients, name: string): Promise<MessageShape<D>>;
  /** Creates from the flags' fields; `context.args[0]` is the new resource's own name. */
  create(context: CommandContext, fields: F): Promise<MessageShape<D>>;
  update(api: AdminClients, name: string, fields: F, mask: string[]): Promise<MessageShape<D>>;
  remove(api: AdminClients, name: string): Promise<unknown>;
}

/**
 * list | get <X> | create <X> | update <X> | delete <X>; false for any other
 * action, which the caller may know (e.g. "scep endpoint rotate-ra").
 */
export async function runResourceCommand<D extends DescMessage, F>(
  resource: ResourceCommand<D, F>,
  action: string | undefined,
  context: CommandContext,
): Promise<boolean> {
  const { api, args } = context;
  const show = (messages: MessageShape<D>[]) => print(context, resource.schema, messages, resource.columns);
  switch (action) {
    case "list":
      show(await resource.list(api));
      return true;
    case "get":
      show([await resource.get(api, await resource.resolve(api, args[0]))]);
      return true;
    case "create": {
      const { fields } = await resource.flags(context);
      show([await resource.create(context, fields)]);
      return true;
    }
    case "update": {
      const name = await resource.resolve(api, args[0]);
      const { fields, mask } = await resource.flags(context);
      if (mask.length === 0) throw new UsageError(`nothing to update: give at least one ${resource.noun} flag`);
      show([await resource.update(api, name, fields, mask)]);
      return true;
    }
    case "delete": {
      const name = await resource.resolve(api, args[0]);
      await resource.remove(api, name);
      process.stdout.write(`deleted ${name}\n`);
      return true;
    }
    default:
      return false;
  }
}

/** The usage error for an action neither runResourceCommand nor the caller knows. */
export function unknownAction(command: string, action: string | undefined): UsageError {
  return new UsageError(`unknown command "${command} ${action ?? ""}"`);
}
