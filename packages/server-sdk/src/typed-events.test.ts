import { http, HttpResponse } from 'msw';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { CastServer } from './cast-server.js';
import { BASE_URL, createMockServer } from './test-server.js';
import type { PublishEvent } from './types.js';

// The @ts-expect-error lines below are checked by `tsc` (`pnpm --filter @cast/server-sdk typecheck`):
// each one fails the typecheck if the line it marks ever compiles.

type Events = {
  'order.created': { id: string; total: number };
  'ticket.closed': { ticketId: string };
};

const server = createMockServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

const answer = { messageId: 'm', eventId: '1-0/orders', delivered: 0, creditsUsed: 0 };

describe('typed event map', () => {
  it('publish accepts the names and payloads of the map', async () => {
    const bodies: unknown[] = [];
    server.use(
      http.post(`${BASE_URL}/push/publish`, async ({ request }) => {
        bodies.push(await request.json());
        return HttpResponse.json(answer);
      }),
    );
    const cast = new CastServer<Events>({ apiKey: 'k', baseUrl: BASE_URL });
    await cast.publish({ channel: 'orders', event: 'order.created', data: { id: 'a1', total: 4999 } });
    expect(bodies[0]).toMatchObject({ event: 'order.created', data: { id: 'a1', total: 4999 } });

    const compileOnly = (): void => {
      // @ts-expect-error an event name outside the map
      void cast.publish({ channel: 'orders', event: 'order.deleted', data: { id: 'a1', total: 1 } });
      // @ts-expect-error a payload of the wrong shape for its name
      void cast.publish({ channel: 'orders', event: 'order.created', data: { ticketId: 't' } });
      // @ts-expect-error a payload missing a field
      void cast.publish({ channel: 'orders', event: 'order.created', data: { id: 'a1' } });
      void cast.publishBatch([
        { channel: 'orders', event: 'order.created', data: { id: 'a', total: 1 } },
        // @ts-expect-error each batch element is checked against its own event name
        { channel: 'support', event: 'ticket.closed', data: { id: 'a', total: 1 } },
      ]);
    };
    expect(typeof compileOnly).toBe('function');
  });

  it('without a map, any name and any JSON are accepted', () => {
    const cast = new CastServer({ apiKey: 'k', baseUrl: BASE_URL });
    expectTypeOf(cast.publish<'anything.at.all'>)
      .parameter(0)
      .toHaveProperty('data')
      .toEqualTypeOf<unknown>();
    expectTypeOf<PublishEvent<Events>>().toHaveProperty('event').toEqualTypeOf<'order.created' | 'ticket.closed'>();
    expectTypeOf(cast.publish).returns.resolves.toHaveProperty('delivered').toEqualTypeOf<number>();
  });
});
