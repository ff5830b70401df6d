// OpenCPO for an API test: started with an administrator API key (OPENCPO_BOOTSTRAP_API_KEY) and any other
// environment settings the test needs, set for the start only, with a client that sends that key.
import type { Config } from '../../src/config/config.ts';
import { startTestServer, type Backend, type TestServer } from './backends.ts';
import { apiClient } from './api-client.ts';

export async function startWithAdminKey(
  backend: Backend,
  adminKey: string,
  env: Record<string, string> = {},
  overrides: Partial<Config> = {},
): Promise<{ server: TestServer; admin: ReturnType<typeof apiClient> }> {
  const settings = { ...env, OPENCPO_BOOTSTRAP_API_KEY: adminKey };
  Object.assign(process.env, settings);
  try {
    const server = await startTestServer(backend, overrides);
    return { server, admin: apiClient(server.url, adminKey) };
  } finally {
    for (const name of Object.keys(settings)) delete process.env[name];
  }
}
