import { desc, eq, sql } from 'drizzle-orm';
import { PlanType } from '../contract/plans.js';
import type { WebhookOutcome } from '../contract/webhooks.js';
import type { LimitsChange } from '../domain/limits/changes.js';
import type { EventResult, WebhookEventRecord, WebhookStore } from '../domain/webhooks/webhook-store.js';
import type { Database } from './database.js';
import { announce, audit } from './journal.js';
import { tenantsOfCustomer } from './rows.js';
import { customer, plan, webhookEvent } from './schema.js';

export function createWebhookStore(db: Database): WebhookStore {
  return {
    async recordOrbEvent(event, action) {
      return db.transaction(async (tx) => {
        const [inserted] = await tx
          .insert(webhookEvent)
          .values({ ...event, outcome: 'ignored' })
          .onConflictDoNothing()
          .returning({ id: webhookEvent.id });
        // Orb delivers at least once: a second delivery of an id changes nothing.
        if (!inserted) return { outcome: 'duplicate' };

        const finish = async (result: EventResult): Promise<EventResult> => {
          await tx
            .update(webhookEvent)
            .set({ outcome: result.outcome, detail: result.detail ?? null })
            .where(eq(webhookEvent.id, event.id));
          return result;
        };

        if (action.kind === 'record') return finish({ outcome: action.outcome, detail: action.detail });
        const customerId = event.customerId;
        if (!customerId) return finish({ outcome: 'unmapped_customer' });

        let planId: string;
        if (action.kind === 'plan') {
          planId = action.planId;
        } else {
          const [mapped] = await tx
            .select({ id: plan.id })
            .from(plan)
            .where(eq(plan.orbExternalPlanId, action.externalPlanId));
          if (!mapped)
            return finish({ outcome: 'unmapped_plan', detail: { external_plan_id: action.externalPlanId } });
          planId = mapped.id;
        }

        const [current] = await tx.select().from(customer).where(eq(customer.id, customerId)).for('update');
        if (current?.lastOrbEventAt && current.lastOrbEventAt > event.createdAt) {
          return finish({
            outcome: 'stale',
            detail: { last_applied_at: current.lastOrbEventAt.toISOString() },
          });
        }
        if (current) {
          await tx
            .update(customer)
            .set({ planId, lastOrbEventAt: event.createdAt, updatedAt: sql`now()` })
            .where(eq(customer.id, customerId));
        } else {
          // A customer Orb knows before we do: organizations mapped to it later get this plan.
          await tx.insert(customer).values({ id: customerId, planId, lastOrbEventAt: event.createdAt });
        }
        await audit(tx, {
          actor: 'orb',
          action: event.type,
          subjectType: 'customer',
          subjectId: customerId,
          before: current ? { planId: current.planId } : null,
          after: { planId, event_id: event.id },
        });
        const change: LimitsChange = { tenants: await tenantsOfCustomer(tx, customerId) };
        if (change.tenants.length > 0) await announce(tx, change);
        return {
          ...(await finish({ outcome: 'applied', detail: { plan_id: PlanType.parse(planId) } })),
          change,
        };
      });
    },

    async listWebhookEvents({ customerId, limit }) {
      const rows = await db
        .select()
        .from(webhookEvent)
        .where(customerId === undefined ? undefined : eq(webhookEvent.customerId, customerId))
        .orderBy(desc(webhookEvent.receivedAt), desc(webhookEvent.id))
        .limit(limit);
      return rows.map(
        (row): WebhookEventRecord => ({
          id: row.id,
          type: row.type,
          createdAt: row.createdAt,
          receivedAt: row.receivedAt,
          customerId: row.customerId,
          rawBody: row.rawBody,
          outcome: row.outcome as WebhookOutcome,
          detail: (row.detail as Record<string, unknown> | null) ?? null,
        }),
      );
    },
  };
}
