import { ERROR_CODES, WEBHOOK_EVENT_TYPES } from '@cast/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { openApiDocument, openApiOperations } from './openapi.js';
import { createInProcessServer, type InProcessServer } from './test-support.js';

const KEY = 'sk_test_0123456789abcdef';
const servers: InProcessServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function server(env: Record<string, string> = {}) {
  const s = await createInProcessServer({ CAST_API_KEYS: `acme=${KEY}`, CAST_SIGNING_SECRET: 's'.repeat(32), ...env });
  servers.push(s);
  return s;
}

type Doc = ReturnType<typeof openApiDocument> & {
  paths: Record<
    string,
    Record<string, { operationId: string; responses: Record<string, { 'x-cast-error-codes'?: string[] }> }>
  >;
  components: { schemas: Record<string, { examples?: unknown[] }> };
};

/** `METHOD /path` of every route the application answers, in the document's `{param}` syntax. */
function registered(routes: ReadonlyArray<{ method: string; path: string }>): string[] {
  return routes
    .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
    .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`)
    .sort();
}

function documented(doc: Doc): string[] {
  return Object.entries(doc.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('the OpenAPI document', () => {
  for (const consoleSetting of ['on', 'off']) {
    it(`documents exactly the routes the server answers (console ${consoleSetting})`, async () => {
      const s = await server({ CAST_CONSOLE: consoleSetting });
      const doc = (await (await s.app.request('/openapi.json')).json()) as Doc;
      expect(documented(doc)).toEqual(registered(s.app.routes));
      expect(documented(doc)).toEqual(
        openApiOperations(s.deps.config)
          .map((o) => `${o.method} ${o.path}`)
          .sort(),
      );
    });
  }

  it('is OpenAPI 3.1 with unique operation ids and error codes from the one table, at their status', async () => {
    const s = await server();
    const res = await s.app.request('/openapi.json');
    expect(res.headers.get('content-type')).toContain('application/json');
    const doc = (await res.json()) as Doc;
    expect(doc.openapi).toBe('3.1.0');
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
    let codes = 0;
    for (const ops of Object.values(doc.paths)) {
      for (const o of Object.values(ops)) {
        for (const [status, response] of Object.entries(o.responses)) {
          for (const code of response['x-cast-error-codes'] ?? []) {
            codes++;
            expect(ERROR_CODES[code as keyof typeof ERROR_CODES]?.status, code).toBe(Number(status));
          }
        }
      }
    }
    expect(codes).toBeGreaterThan(20);
  });

  it("states the running server's limits", async () => {
    const s = await server({ CAST_MAX_BATCH: '7', CAST_MAX_CHANNELS_PER_TOKEN: '3' });
    const text = await (await s.app.request('/openapi.json')).text();
    const doc = JSON.parse(text) as {
      components: { schemas: { TokenRequest: { properties: { channels: { maxItems: number } } } } };
      paths: Record<
        string,
        Record<
          string,
          { requestBody: { content: Record<string, { schema: { properties: { events: { maxItems: number } } } }> } }
        >
      >;
    };
    expect(doc.components.schemas.TokenRequest.properties.channels.maxItems).toBe(3);
    expect(
      doc.paths['/push/publish/batch']?.post?.requestBody.content['application/json']?.schema.properties.events
        .maxItems,
    ).toBe(7);
  });

  it('has examples the server accepts', async () => {
    const s = await server();
    const doc = (await (await s.app.request('/openapi.json')).json()) as Doc;
    const post = (path: string, body: unknown) =>
      s.app.request(path, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    for (const example of doc.components.schemas.TokenRequest?.examples ?? [])
      expect((await post('/push/tokens', example)).status).toBe(200);
    for (const example of doc.components.schemas.PublishRequest?.examples ?? [])
      expect((await post('/push/publish', example)).status).toBe(200);
    expect(doc.components.schemas.PublishRequest?.examples?.length).toBeGreaterThan(0);
  });

  it("describes the webhook requests the server sends, with the protocol's event types", () => {
    const doc = openApiDocument({
      maxChannelsPerToken: 100,
      maxTokenTtlSeconds: 86_400,
      maxPayloadBytes: 65_536,
      maxBatch: 100,
      console: true,
    }) as unknown as {
      webhooks: { castEvents: { post: { parameters: Array<{ name: string; in: string }> } } };
      components: { schemas: { WebhookEvent: { properties: { type: { enum: string[] } } } } };
    };
    expect(doc.webhooks.castEvents.post.parameters).toEqual([
      expect.objectContaining({ name: 'Cast-Signature', in: 'header' }),
    ]);
    expect(doc.components.schemas.WebhookEvent.properties.type.enum).toEqual([...WEBHOOK_EVENT_TYPES]);
  });
});
