HOST=0.0.0.0 PORT=8080 \
  CAST_API_KEYS="acme=$ACME_SECRET_KEY" \
  CAST_SIGNING_SECRET="$CAST_SIGNING_SECRET" \
  CAST_CORS_ORIGINS=https://app.example.com \
  node apps/server/dist/main.js
