#!/usr/bin/env bash
# Installs CongoDB, an in-memory MongoDB wire-protocol emulator shipped inside the npm package
# @push.rocks/smartmongo@2.2.0, into DEST (default: target/mongo-emulator). It lets the MongoDB
# driver path run in CI; it is not mongod (queries run through the `mingo` library), so the
# tests that use it are named as emulator tests. Start it with:
#   PORT=27018 node DEST/server.mjs      (prints its URI; SIGTERM stops it)
# Recipe copied from ../shared/tools/mongo-wire-emulator/install.sh.
set -euo pipefail
dest=${1:-target/mongo-emulator}
if [ -f "$dest/server.mjs" ] && [ -d "$dest/node_modules/@push.rocks/smartmongo" ]; then
    exit 0
fi
mkdir -p "$dest"
cd "$dest"
cat > package.json <<'JSON'
{ "name": "mongo-wire-emulator", "private": true, "type": "module",
  "dependencies": { "@push.rocks/smartfs": "1.5.0", "@push.rocks/smartpath": "5.1.0",
    "@push.rocks/smartpromise": "4.2.3", "@push.rocks/smartrx": "3.0.10",
    "bson": "6.10.4", "mingo": "7.2.7" } }
JSON
npm install --ignore-scripts --no-audit --no-fund --silent
# A plain install of smartmongo 2.2.0 fails on an unpublished dependency version, and its newer
# releases depend on a package missing from the registry: unpack its tarball without dependencies.
npm pack @push.rocks/smartmongo@2.2.0 --silent >/dev/null
mkdir -p node_modules/@push.rocks/smartmongo
tar xzf push.rocks-smartmongo-2.2.0.tgz -C node_modules/@push.rocks/smartmongo --strip-components=1
rm -f push.rocks-smartmongo-2.2.0.tgz
cat > server.mjs <<'JS'
import { CongoServer } from '@push.rocks/smartmongo/dist_ts/congodb/index.js';
const port = parseInt(process.env.PORT || '27017', 10);
const server = new CongoServer({ port, host: '127.0.0.1', storage: 'memory' });
await server.start();
console.log('listening on', server.getConnectionUri());
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
JS
