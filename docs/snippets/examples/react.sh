pnpm --filter @cast/example-react start
