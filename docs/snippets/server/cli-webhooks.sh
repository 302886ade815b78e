cast webhooks listen --port "${WEBHOOK_PORT:-8787}" --secret "$CAST_WEBHOOK_SECRET"
