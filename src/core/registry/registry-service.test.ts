import { AsnConvert } from "@peculiar/asn1-schema";
import { CertificatePolicies, Name, SubjectAlternativeName } from "@peculiar/asn1-x509";
import { X509Certificate } from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBootstrappedCore, stopTestCore, type TestCore } from "../../../test/support/bootstrapped-core.ts";
import { refusal } from "../../../test/support/refusal.ts";
import type { TestDatabase } from "../../../test/support/test-database.ts";
import type { CertificateAuthority } from "../ca/certificate-authority.ts";
import { asn1parse, certificateText, opensslCsr, verifyChain } from "../x509/testing/openssl.ts";

const admin = { actor: "user:admin", sourceIp: "192.0.2.1" };

/** A qualified-signature profile for individuals: Russian identifiers, a UPN, an ETSI QES policy. */
const qesIndividual = {
  name: "qes-individual",
  validity: { default: "365d", max: "365d" },
  keyUsage: ["digitalSignature", "nonRepudiation"],
  extendedKeyUsage: ["emailProtection", "clientAuth"],
  san: { allowedTypes: ["email"], otherNames: ["upn"] },
  subject: { keep: ["CN", "SNILS", "inn", "employee-id"], required: ["SNILS", "INN"] },
  certificatePolicies: [{ policy: "qes-individual" }, { policy: "corp-cps" }],
  customExtensions: [{ objectIdentifier: "ms-template", value: "QualifiedUser" }],
};

describe("OID and certificate policy registries", () => {
  let db: TestDatabase;
  let core: TestCore;
  let issuing: CertificateAuthority;
  let root: CertificateAuthority;

  beforeAll(async () => {
    ({ db, core, issuing, root } = await startBootstrappedCore());
  });
  afterAll(() => stopTestCore(db, core));

  it("lists the built-ins, which cannot be changed, deleted or shadowed", async () => {
    const oids = await core.registry.listObjectIdentifiers();
    expect(oids.map((e) => e.id)).toEqual([
      "dns",
      "ip",
      "email",
      "uri",
      "upn",
      "snils",
      "inn",
      "innle",
      "ogrn",
      "ogrnip",
    ]);
    expect(oids.find((e) => e.id === "snils")).toMatchObject({
      oid: "1.2.643.100.3",
      valueType: "numericString",
      placement: "subject_attribute",
      valuePattern: "[0-9]{11}",
      builtin: true,
    });
    expect((await core.registry.listCertificatePolicies()).map((e) => [e.id, e.oid])).toEqual([
      ["qes-individual", "0.4.0.194112.1.2"],
      ["qes-organisation", "0.4.0.194112.1.3"],
      ["qes-sole-proprietor", "0.4.0.194112.1.2"],
    ]);
    expect((await refusal(core.registry.deleteObjectIdentifier("upn", admin))).code).toBe("failed_precondition");
    expect(
      (await refusal(core.registry.updateCertificatePolicy("qes-individual", { displayName: "x" }, admin))).code,
    ).toBe("failed_precondition");
    const shadow = { oid: "1.3.6.1.4.1.99999.1", displayName: "x", valueType: "utf8String", placement: "extension" };
    expect((await refusal(core.registry.createObjectIdentifier({ ...shadow, id: "upn" }, admin))).code).toBe(
      "already_exists",
    );
    // Profiles list subject attributes by short name or registry id in one list: "title" is an attribute.
    expect((await refusal(core.registry.createObjectIdentifier({ ...shadow, id: "title" }, admin))).message).toMatch(
      /is a subject attribute name/,
    );
    // CN's OID is already a subject attribute; the registry would only shadow it.
    const cn = { ...shadow, id: "common", oid: "2.5.4.3", placement: "subject_attribute" };
    expect((await refusal(core.registry.createObjectIdentifier(cn, admin))).message).toMatch(
      /built-in subject attribute CN/,
    );
    const builtExtension = { ...shadow, id: "my-san", oid: "2.5.29.17" };
    expect((await refusal(core.registry.createObjectIdentifier(builtExtension, admin))).code).toBe("invalid_argument");
    const badType = { ...shadow, id: "x-bad", valueType: "octetString" };
    expect((await refusal(core.registry.createObjectIdentifier(badType, admin))).message).toMatch(/valueType/);
  });

  it("issues a QES certificate whose registry content openssl and a second parser read back", async () => {
    await core.registry.createObjectIdentifier(
      {
        id: "employee-id",
        oid: "1.3.6.1.4.1.99999.2.1",
        displayName: "Employee number",
        valueType: "printableString",
        placement: "subject_attribute",
        valuePattern: "E[0-9]{6}",
      },
      admin,
    );
    await core.registry.createObjectIdentifier(
      {
        id: "ms-template",
        oid: "1.3.6.1.4.1.311.20.2",
        displayName: "Microsoft certificate template name",
        valueType: "bmpString",
        placement: "extension",
      },
      admin,
    );
    await core.registry.createCertificatePolicy(
      { id: "corp-cps", oid: "1.3.6.1.4.1.99999.3.1", displayName: "Corp CPS", cpsUri: "https://pki.example/cps" },
      admin,
    );
    await core.profiles.create(qesIndividual, admin);

    // openssl writes SNILS and INN (it knows them); the custom attribute comes from the approved subject.
    const csrDer = opensslCsr({ subject: "/CN=Ivan Petrov/SNILS=12345678901/INN=123456789012" });
    const issued = await core.issuance.issue({
      caId: issuing.id,
      profileName: "qes-individual",
      csrDer,
      approved: {
        subject: [
          { type: "CN", value: "Ivan Petrov" },
          { type: "snils", value: "12345678901" },
          { type: "1.2.643.3.131.1.1", value: "123456789012" },
          { type: "employee-id", value: "E123456" },
        ],
        sans: [
          { type: "email", value: "ivan@example.com" },
          { type: "otherName", name: "upn", value: "ivan@corp.example" },
        ],
      },
      requester: "user:ivan",
      sourceProtocol: "admin",
    });
    expect(verifyChain(root.certificateDer!, [issuing.certificateDer!], issued.der).stdout).toContain("OK");

    const text = certificateText(issued.der);
    expect(text).toContain("othername: UPN::ivan@corp.example");
    expect(text).toContain("Policy: 0.4.0.194112.1.2");
    expect(text).toContain("CPS: https://pki.example/cps");
    expect(text).toContain("Explicit Text: Qualified certificate for electronic signatures of a natural person");
    // The Russian identifiers are NumericStrings, the custom attribute a PrintableString, as registered.
    const parsed = asn1parse(issued.der);
    expect(parsed).toMatch(/NUMERICSTRING\s+:12345678901/);
    expect(parsed).toMatch(/NUMERICSTRING\s+:123456789012/);
    expect(parsed).toMatch(/PRINTABLESTRING\s+:E123456/);

    const cert = new X509Certificate(Buffer.from(issued.der));
    const subject = AsnConvert.parse(cert.subjectName.toArrayBuffer(), Name);
    expect(subject.map((rdn) => rdn[0]!.type)).toEqual([
      "2.5.4.3",
      "1.2.643.100.3",
      "1.2.643.3.131.1.1",
      "1.3.6.1.4.1.99999.2.1",
    ]);
    const san = AsnConvert.parse(cert.getExtension("2.5.29.17")!.value, SubjectAlternativeName);
    expect(san.map((n) => n.rfc822Name ?? n.otherName?.typeId)).toEqual(["ivan@example.com", "1.3.6.1.4.1.311.20.2.3"]);
    const policies = AsnConvert.parse(cert.getExtension("2.5.29.32")!.value, CertificatePolicies);
    expect(policies.map((p) => p.policyIdentifier)).toEqual(["0.4.0.194112.1.2", "1.3.6.1.4.1.99999.3.1"]);
    const template = cert.getExtension("1.3.6.1.4.1.311.20.2")!;
    expect(Buffer.from(template.value).toString("hex")).toBe(
      `1e1a${Buffer.from("QualifiedUser", "utf16le").swap16().toString("hex")}`,
    );

    const record = (await core.issuance.get(issued.serialHex)).sans;
    expect(record).toContainEqual({ type: "otherName", name: "upn", value: "ivan@corp.example" });
  });

  it("refuses values that break an entry's type or pattern, naming the rule", async () => {
    const issue = (subject: string, sans: { type: "otherName"; name: string; value: string }[] = []) =>
      refusal(
        core.issuance.issue({
          caId: issuing.id,
          profileName: "qes-individual",
          csrDer: opensslCsr({ subject: "/CN=A" }),
          approved: {
            subject: subject
              .split("/")
              .slice(1)
              .map((pair) => ({ type: pair.split("=")[0]!, value: pair.split("=")[1]! })),
            sans,
          },
          requester: "user:ivan",
          sourceProtocol: "admin",
        }),
      );
    const shortSnils = await issue("/CN=A/1.2.643.100.3=1234/1.2.643.3.131.1.1=123456789012");
    expect(shortSnils.code).toBe("policy_violation");
    expect(shortSnils.message).toMatch(/SNILS must be exactly 11 digits/);
    const noInn = await issue("/CN=A/1.2.643.100.3=12345678901");
    expect(noInn.message).toMatch(/subject must contain INN/);
    const badEmployee = await issue(
      "/CN=A/1.2.643.100.3=12345678901/1.2.643.3.131.1.1=123456789012/1.3.6.1.4.1.99999.2.1=X1",
    );
    expect(badEmployee.message).toMatch(/subject\.employee-id: Employee number does not match/);
    const otherOther = await issue("/CN=A/1.2.643.100.3=12345678901/1.2.643.3.131.1.1=123456789012", [
      { type: "otherName", name: "guid", value: "x" },
    ]);
    expect(otherOther.message).toMatch(/san\.otherNames: otherName guid SANs are not allowed/);
  });

  it("checks a profile's references when it is written, and keeps referenced entries from deletion", async () => {
    const unknown = await refusal(
      core.profiles.create({ ...qesIndividual, name: "broken", san: { otherNames: ["no-such"] } }, admin),
    );
    expect(unknown.code).toBe("invalid_argument");
    expect(unknown.message).toMatch(/san\.otherNames\.0: no entry "no-such" in the OID registry/);
    const misplaced = await refusal(
      core.profiles.create({ ...qesIndividual, name: "broken", san: { otherNames: ["employee-id"] } }, admin),
    );
    expect(misplaced.message).toMatch(/"employee-id" is a subject_attribute entry, not san_other_name/);
    const twice = await refusal(
      core.profiles.create(
        {
          ...qesIndividual,
          name: "broken",
          certificatePolicies: [{ policy: "qes-individual" }, { policy: "qes-sole-proprietor" }],
        },
        admin,
      ),
    );
    expect(twice.message).toMatch(/names one policy OID twice/);
    const badText = await refusal(
      core.profiles.create(
        {
          ...qesIndividual,
          name: "broken",
          customExtensions: [{ objectIdentifier: "ms-template", value: "\u{1F600}" }],
        },
        admin,
      ),
    );
    expect(badText.message).toMatch(/customExtensions\.0\.value/);

    const inUse = await refusal(core.registry.deleteObjectIdentifier("employee-id", admin));
    expect(inUse.code).toBe("failed_precondition");
    expect(inUse.message).toMatch(/used by profile qes-individual/);
    expect((await refusal(core.registry.deleteCertificatePolicy("corp-cps", admin))).message).toMatch(/qes-individual/);
    // A pattern the profile's registry extension value no longer fits is refused too.
    const narrowed = await refusal(
      core.registry.updateObjectIdentifier("ms-template", { displayName: "Template", valuePattern: "[a-z]+" }, admin),
    );
    expect(narrowed.code).toBe("failed_precondition");

    await core.registry.createObjectIdentifier(
      {
        id: "unused",
        oid: "1.3.6.1.4.1.99999.9",
        displayName: "Unused",
        valueType: "utf8String",
        placement: "extension",
      },
      admin,
    );
    await core.registry.deleteObjectIdentifier("unused", admin);
    expect((await refusal(core.registry.getObjectIdentifier("unused"))).code).toBe("not_found");
    const events = await core.audit.find(
      { action: "registry.oid.delete" },
      { order: "newest", cursor: undefined, limit: 10 },
    );
    expect(events.map((e) => e.target)).toContain("oid:unused");
  });
});
