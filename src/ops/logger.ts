import pino, { type Logger } from "pino";

export type { Logger };

/**
 * JSON logs by default (one object per line, for collectors); pretty lines
 * when asked or when stdout is a terminal.
 */
export function createLogger(options: { level: string; pretty?: boolean | undefined }): Logger {
  const pretty = options.pretty ?? process.stdout.isTTY === true;
  return pino({
    ...loggerOptions(options),
    ...(pretty
      ? { transport: { target: "pino-pretty", options: { colorize: true, translateTime: "SYS:HH:MM:ss" } } }
      : {}),
  });
}

/**
 * The options every Chancery logger has, pretty or not. Keys that could
 * carry secrets are redacted wherever they appear (up to three levels
 * deep), so a careless `log.info({ config })` cannot leak a key-encryption
 * key, a passphrase, a token or a database password.
 */
export function loggerOptions(options: { level: string }): pino.LoggerOptions {
  const secretKeys = [
    "keyEncryptionKey",
    "password",
    "passphrase",
    "privateKey",
    "token",
    "authorization",
    "connectionUri",
  ];
  return {
    level: options.level,
    base: { service: "chancery" },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        ...secretKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
        "*.headers.authorization",
        "*.*.headers.authorization",
        // database.url holds the password of a DATABASE_URL.
        "database.url",
        "*.database.url",
      ],
      censor: "[redacted]",
    },
  };
}
