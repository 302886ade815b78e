# Where the server listens: the default, unless you set CAST_URL in step 1.
export CAST_URL=${CAST_URL:-http://127.0.0.1:8080}
# The development key the server created on its first start (also printed in its banner):
export CAST_API_KEY=$(node -p 'require("./apps/server/.cast/dev-credentials.json").apiKey')
