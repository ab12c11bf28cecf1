import { describe, expect, it } from 'vitest';
import { PERMISSION_ANSWER_MS, writePermission } from '../../../extensions/pitwall/src/shared/write-guard.ts';

/** A knex stand-in for the one permissions query: records what it was asked, answers from `grants` ("role collection action"). */
function permissionsTable(grants: string[], fail = () => false) {
  const asked: string[] = [];
  const database = () => {
    const query = { collection: '', action: '', roles: [] as string[] };
    const builder = {
      join: () => builder,
      where: (w: Record<string, string>) => {
        query.collection = w['p.collection']!;
        query.action = w['p.action']!;
        return builder;
      },
      andWhere: (scope: (q: unknown) => void) => {
        scope({ whereIn: (_: string, roles: string[]) => (query.roles = roles), orWhere: () => undefined });
        return builder;
      },
      first: async () => {
        asked.push(`${query.collection} ${query.action}`);
        if (fail()) throw new Error('connection lost');
        return query.roles.some((role) => grants.includes(`${role} ${query.collection} ${query.action}`)) ? { id: 1 } : undefined;
      },
    };
    return builder;
  };
  return { database, asked };
}

const timekeeper = () => ({ role: 'race-control', roles: [], user: 'u1', admin: false }) as never;

describe('writePermission', () => {
  it('asks once for the rows of one request, per collection and action', async () => {
    const { database, asked } = permissionsTable(['race-control entry_penalties create']);
    const mayWrite = writePermission(database);
    const request = timekeeper();
    const answers = await Promise.all(Array.from({ length: 300 }, () => mayWrite('entry_penalties', 'create', request)));
    expect(answers.every(Boolean)).toBe(true);
    expect(await mayWrite('entry_penalties', 'update', request)).toBe(false);
    expect(asked).toEqual(['entry_penalties create', 'entry_penalties update']);
  });

  it('asks again for another request, and after the answer has aged', async () => {
    const { database, asked } = permissionsTable(['race-control entry_penalties create']);
    let clock = 0;
    const mayWrite = writePermission(database, () => clock);
    const first = timekeeper();
    await mayWrite('entry_penalties', 'create', first);
    await mayWrite('entry_penalties', 'create', timekeeper());
    clock = PERMISSION_ANSWER_MS;
    await mayWrite('entry_penalties', 'create', first);
    expect(asked).toHaveLength(3);
  });

  it('does not keep a failed read as an answer', async () => {
    let down = true;
    const { database, asked } = permissionsTable(['race-control entry_penalties create'], () => down);
    const mayWrite = writePermission(database);
    const request = timekeeper();
    await expect(mayWrite('entry_penalties', 'create', request)).rejects.toThrow('connection lost');
    down = false;
    expect(await mayWrite('entry_penalties', 'create', request)).toBe(true);
    expect(asked).toHaveLength(2);
  });

  it('never asks for an admin or an internal write', async () => {
    const { database, asked } = permissionsTable([]);
    const mayWrite = writePermission(database);
    expect(await mayWrite('entry_penalties', 'create', { admin: true } as never)).toBe(true);
    expect(await mayWrite('entry_penalties', 'create', null)).toBe(true);
    expect(asked).toEqual([]);
  });
});
