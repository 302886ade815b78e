pnpm --filter @cast/example-node-basic start
