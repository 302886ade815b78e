curl -s "$CAST_URL/push/channels?prefix=room:&limit=2" \
  -H "Authorization: Bearer $CAST_API_KEY"
