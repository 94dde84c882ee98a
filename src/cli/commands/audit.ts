import { AuditEventSchema } from "../../gen/chancery/admin/v1/audit_pb.js";
import { type Columns, type CommandGroup, int, print, str, time, UsageError } from "../cli-context.ts";
import { printMessages } from "../output.ts";

const auditColumns: Columns<typeof AuditEventSchema> = [
  ["SEQ", (e) => e.sequence.toString()],
  ["TIME", (e) => time(e.occurTime)],
  ["ACTOR", (e) => e.actor],
  ["ACTION", (e) => e.action],
  ["TARGET", (e) => e.target],
  ["SOURCE IP", (e) => e.sourceIp],
];

/** chancery audit ...: AuditService. */
export const audit: CommandGroup = {
  name: "audit",
  usage: "  audit list [--actor A] [--action X] [--target T] [--limit N] | export [same filters] | verify\n",
  options: {
    actor: { type: "string" },
    action: { type: "string" },
    target: { type: "string" },
    limit: { type: "string" },
  },
  async run(verb, context) {
    const { api, flags } = context;
    const filter = {
      actor: str(flags, "actor") ?? "",
      action: str(flags, "action") ?? "",
      target: str(flags, "target") ?? "",
    };
    switch (verb) {
      case "list": {
        const pageSize = int(str(flags, "limit") ?? "50", "--limit");
        print(
          context,
          AuditEventSchema,
          (await api.audit.listAuditEvents({ filter, pageSize })).auditEvents,
          auditColumns,
        );
        return 0;
      }
      case "export":
        // One JSON object per line, oldest first: a stream a collector can take.
        for await (const event of api.audit.exportAuditEvents({ filter }))
          printMessages("json", AuditEventSchema, [event], [], (text) =>
            process.stdout.write(`${JSON.stringify(JSON.parse(text))}\n`),
          );
        return 0;
      case "verify": {
        const report = await api.audit.verifyAuditChain({});
        process.stdout.write(
          report.intact
            ? `audit chain intact: ${report.checkedEvents} events\n`
            : `audit chain BROKEN at event ${report.brokenAtSequence}: ${report.reason}\n`,
        );
        return report.intact ? 0 : 3;
      }
      default:
        throw new UsageError(`unknown command "audit ${verb ?? ""}"`);
    }
  },
};
