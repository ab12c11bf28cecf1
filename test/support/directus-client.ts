import { connectAdmin, type AdminClient } from '../../src/setup/directus-admin.ts';
import type { TestStack } from './stack.ts';

export const admin = (stack: TestStack): Promise<AdminClient> => connectAdmin(stack.directusUrl, stack.adminEmail, stack.adminPassword);

export async function adminToken(stack: TestStack): Promise<string> {
  const res = await fetch(`${stack.directusUrl}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: stack.adminEmail, password: stack.adminPassword }),
  });
  if (!res.ok) throw new Error(`admin login failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: { access_token: string } }).data.access_token;
}

/** A raw call as a person or a service would make it, so tests see real status codes. */
export async function call(stack: TestStack, path: string, init: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${stack.directusUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** A file import through Directus's `/utils/import/<collection>`, as the app's Import button sends it. */
export async function importFile(stack: TestStack, collection: string, file: { text: string; type: 'text/csv' | 'application/json' }, token: string) {
  const form = new FormData();
  form.append('file', new Blob([file.text], { type: file.type }), file.type === 'text/csv' ? 'import.csv' : 'import.json');
  const res = await fetch(`${stack.directusUrl}/utils/import/${collection}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  return { status: res.status, text: await res.text() };
}
