/**
 * The last answer the service gave for each key, for when it cannot answer. Bounded: the least
 * recently answered key goes first when it is full, so a caller that sees many tenants keeps the
 * busy ones. A `Map` keeps insertion order, which is all a least-recently-used list needs here.
 */
export class LastKnownAnswers<Answer> {
  readonly #answers = new Map<string, { answer: Answer; fetchedAt: Date }>();

  constructor(private readonly maxEntries: number) {}

  remember(key: string, answer: Answer, fetchedAt: Date): void {
    this.#answers.delete(key);
    this.#answers.set(key, { answer, fetchedAt });
    if (this.#answers.size > this.maxEntries) {
      const oldest = this.#answers.keys().next();
      if (!oldest.done) this.#answers.delete(oldest.value);
    }
  }

  forget(key: string): void {
    this.#answers.delete(key);
  }

  /** The answer for `key` if it was fetched at most `maxAgeMs` before `now`. */
  recall(key: string, maxAgeMs: number, now: number): { answer: Answer; fetchedAt: Date } | undefined {
    const entry = this.#answers.get(key);
    if (!entry || now - entry.fetchedAt.getTime() > maxAgeMs) return undefined;
    return entry;
  }
}
