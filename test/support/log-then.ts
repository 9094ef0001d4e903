/**
 * Logs one line through the service's logger, then idles until killed, crashes or exits:
 * `node --import tsx test/support/log-then.ts idle|crash|exit`. Idling for good, not for a while:
 * the line must then show because of the timed flush, never because the process exited.
 */
import { createLogger } from '../../src/telemetry/logger.js';

const logger = createLogger();
logger.info({ event: 'before' }, 'a line written before');
const how = process.argv[2];
if (how === 'crash') {
  setTimeout(() => {
    throw new Error('an uncaught exception');
  }, 50);
} else if (how === 'exit') {
  process.exit(3);
} else {
  setInterval(() => {}, 60_000);
}
