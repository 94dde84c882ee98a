/** Who is asking, for audit: "user:<id>", "system", "bootstrap", "acme-account:<id>", ... */
export interface Actor {
  readonly actor: string;
  readonly sourceIp?: string | undefined;
}

export const systemActor: Actor = { actor: "system" };
