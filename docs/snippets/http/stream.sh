curl -N "$CAST_URL/push/stream?token=$TOKEN"
