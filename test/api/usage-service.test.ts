import { describe, expect, it } from 'vitest';
import { workerActor } from '../../src/api/billing/usage-service.js';

describe('workerActor: who the audit log names for a worker call', () => {
  it('is the token’s subject when it has one', () => {
    expect(workerActor({ sub: 'deployer-7' })).toBe('deployer-7');
  });

  it.each([
    ['no subject', {}],
    ['an empty subject', { sub: '' }],
    ['a subject that is no string', { sub: 42 }],
  ])('is "engine" for %s', (_, claims) => {
    expect(workerActor(claims)).toBe('engine');
  });
});
