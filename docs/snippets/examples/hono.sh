pnpm --filter @cast/example-hono start
