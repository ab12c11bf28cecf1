import { parse } from 'pg-connection-string';
import { describe, expect, it } from 'vitest';
import { databaseRoleUrl } from '../../../src/setup/database-role.ts';

const role = { name: 'pitwall_processor', password: 'p@ss:w/rd?#%' };

describe('databaseRoleUrl', () => {
  it("is setup's URL with the role's name and password, which node-postgres reads back exactly", () => {
    const url = databaseRoleUrl('postgres://pitwall:owner-secret@postgis:5432/pitwall', role);
    expect(parse(url)).toMatchObject({ user: 'pitwall_processor', password: 'p@ss:w/rd?#%', host: 'postgis', port: '5432', database: 'pitwall' });
    expect(url).not.toContain('owner-secret');
  });

  it('keeps a Unix socket directory given as ?host=, as the demo and the tests connect', () => {
    const url = databaseRoleUrl('postgres://postgres@localhost:5432/pitwall?host=%2Fvar%2Frun%2Fpostgresql', role);
    expect(parse(url)).toMatchObject({ user: 'pitwall_processor', password: 'p@ss:w/rd?#%', host: '/var/run/postgresql', database: 'pitwall' });
  });
});
