/**
 * Key algorithms the gateway generates, stores and signs with. The names are
 * the ones used in config, profiles and the admin API.
 */
export const keyAlgorithms = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"] as const;

export type KeyAlgorithm = (typeof keyAlgorithms)[number];

export function isKeyAlgorithm(value: string): value is KeyAlgorithm {
  return (keyAlgorithms as readonly string[]).includes(value);
}
