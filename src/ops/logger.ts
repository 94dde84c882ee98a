import pino, { type Logger } from "pino";

export type { Logger };

/**
 * JSON logs by default (one object per line, for collectors); pretty lines
 * when asked or when stdout is a terminal. Keys that could carry secrets are
 * redacted wherever they appear, so a careless `log.info({ config })` cannot
 * leak a key-encryption key or a database password.
 */
export function createLogger(options: { level: string; pretty?: boolean | undefined }): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    level: options.level,
    base: { service: "chancery" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        "keyEncryptionKey",
        "*.keyEncryptionKey",
        "password",
        "*.password",
        "passphrase",
        "*.passphrase",
        "privateKey",
        "*.privateKey",
        "token",
        "*.token",
        "authorization",
        "*.authorization",
        "*.headers.authorization",
        "database.url",
        "*.database.url",
        "connectionUri",
        "*.connectionUri",
      ],
      censor: "[redacted]",
    },
    ...(pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss" } } }
      : {}),
  });
}
