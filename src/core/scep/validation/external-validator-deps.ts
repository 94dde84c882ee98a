import type { Logger } from "pino";
import type { Clock } from "../../clock.ts";
import type { FetchFunction } from "./bounded-fetch.ts";
import type { Sleep, ValidatorTuning } from "./validator-tuning.ts";

/** What an external challenge validator is built with (DESIGN rule 4: no globals, tests inject). */
export interface ExternalValidatorDeps {
  /** Drives token and discovery expiry and the webhook timestamp. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Default: the global fetch. */
  readonly fetch?: FetchFunction | undefined;
  /** Waits between retries; default setTimeout. */
  readonly sleep?: Sleep | undefined;
  /** Overrides of defaultValidatorTuning (tests use small timeouts). */
  readonly tuning?: Partial<ValidatorTuning> | undefined;
}
