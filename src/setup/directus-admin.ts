import { authentication, createDirectus, rest, type DirectusClient, type RestClient, type AuthenticationClient } from '@directus/sdk';

export type AdminClient = DirectusClient<any> & RestClient<any> & AuthenticationClient<any>;

/** An admin session for setup only: services never hold admin credentials (they use their own static tokens). */
export async function connectAdmin(url: string, email: string, password: string): Promise<AdminClient> {
  const client = createDirectus(url).with(authentication('json', { autoRefresh: true })).with(rest());
  await client.login({ email, password });
  return client as AdminClient;
}
