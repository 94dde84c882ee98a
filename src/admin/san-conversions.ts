import { ChanceryError } from "../core/errors.ts";
import type { SubjectAltName as CoreSubjectAltName, SubjectAltNameType } from "../core/x509/general-name.ts";

/**
 * SubjectAltName (certificate.proto) and Request.SubjectAltName
 * (request.proto) number their types alike, so one mapping serves both:
 * 1 DNS, 2 IP, 3 EMAIL, 4 URI, 5 OTHER_NAME (with other_name naming the OID
 * registry entry, e.g. "upn").
 */
interface ProtoSubjectAltName {
  readonly type: number;
  readonly value: string;
  readonly otherName: string;
}

const generalTypes: ReadonlyArray<[number, SubjectAltNameType]> = [
  [1, "dns"],
  [2, "ip"],
  [3, "email"],
  [4, "uri"],
];
const otherNameType = 5;

export function sanFromProto(san: ProtoSubjectAltName, index: number): CoreSubjectAltName {
  if (san.type === otherNameType) {
    if (!san.otherName)
      throw new ChanceryError(
        "invalid_argument",
        `subject_alt_names[${index}].other_name must name an OID registry entry such as "upn"`,
      );
    return { type: "otherName", name: san.otherName, value: san.value };
  }
  if (san.otherName)
    throw new ChanceryError("invalid_argument", `subject_alt_names[${index}].other_name is only for TYPE_OTHER_NAME`);
  const type = generalTypes.find(([proto]) => proto === san.type)?.[1];
  if (!type)
    throw new ChanceryError(
      "invalid_argument",
      `subject_alt_names[${index}].type must be TYPE_DNS, TYPE_IP, TYPE_EMAIL, TYPE_URI or TYPE_OTHER_NAME`,
    );
  return { type, value: san.value };
}

export function sanToProto(san: CoreSubjectAltName): ProtoSubjectAltName {
  if (san.type === "otherName") return { type: otherNameType, value: san.value, otherName: san.name };
  return { type: generalTypes.find(([, core]) => core === san.type)?.[0] ?? 0, value: san.value, otherName: "" };
}
