-- OID and certificate policy registries that profiles reference by id.
-- Built-in entries (dns, ip, email, uri, upn, snils, inn, innle, ogrn,
-- ogrnip; qes-individual, qes-organisation, qes-sole-proprietor) live in
-- code (src/core/registry), not here, so they cannot drift or be edited.
CREATE TABLE object_identifiers (
  id            text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9-]{0,62}$'),
  oid           text NOT NULL CHECK (oid ~ '^[0-2](\.[0-9]+)+$'),
  display_name  text NOT NULL,
  value_type    text NOT NULL
    CHECK (value_type IN ('utf8String', 'printableString', 'ia5String', 'numericString', 'bmpString')),
  placement     text NOT NULL CHECK (placement IN ('san_other_name', 'subject_attribute', 'extension')),
  value_pattern text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- One meaning per OID and place: two entries for the same otherName would make a SAN ambiguous.
CREATE UNIQUE INDEX object_identifiers_oid_placement ON object_identifiers (oid, placement);

CREATE TABLE certificate_policies (
  id            text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9-]{0,62}$'),
  oid           text NOT NULL CHECK (oid ~ '^[0-2](\.[0-9]+)+$'),
  display_name  text NOT NULL,
  cps_uri       text,
  user_notice   text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
