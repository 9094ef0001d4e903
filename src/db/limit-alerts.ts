import { sql } from 'drizzle-orm';
import type { Executor } from './rows.js';
import { billingAlertSettings } from './schema.js';

/** When `limit.warning` and `limit.resolved` are sent, in percent of a finite limit. */
export interface AlertThresholds {
  /** `limit.warning` once usage reaches this share of the limit (1–100). */
  warningPercent: number;
  /** `limit.resolved` once usage falls below `warningPercent` minus this (0 to `warningPercent` − 1). */
  hysteresisPercent: number;
}

/**
 * Writes the thresholds the database's alert functions read (drizzle/0011_limit_alerts.sql). One
 * row for the whole database: each replica writes its own at start, so they should all be given
 * the same (the last one started wins). A CHECK constraint refuses what the config would refuse.
 */
export async function writeAlertThresholds(db: Executor, thresholds: AlertThresholds): Promise<void> {
  const values = {
    warningPercent: thresholds.warningPercent,
    hysteresisPercent: thresholds.hysteresisPercent,
    updatedAt: sql`now()`,
  };
  await db
    .insert(billingAlertSettings)
    .values({ id: true, ...values })
    .onConflictDoUpdate({ target: billingAlertSettings.id, set: values });
}
