import { UniqueIntegrityConstraintViolationError } from "slonik";

/** True when `err` is Postgres refusing a duplicate (SQLSTATE 23505), through slonik or pg. */
export function isUniqueViolation(err: unknown): boolean {
  if (err instanceof UniqueIntegrityConstraintViolationError) return true;
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "23505";
}
