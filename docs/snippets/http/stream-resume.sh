curl -N "$CAST_URL/push/stream?types=order.*,status.changed" \
  -H "Authorization: Bearer $TOKEN" \
  -H "Last-Event-ID: $LAST_EVENT_ID"
