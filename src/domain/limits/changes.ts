/**
 * Which tenants' answers a write changed: what a replica's cache must forget. Every store write
 * reports one, and the store announces it to the other replicas when the write commits.
 */
export type LimitsChange = { tenants: string[] } | { all: true };
