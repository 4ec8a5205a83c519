// Peer server for Ostium's token-endpoint benchmarks: npm `oidc-provider` (panva),
// configured as /work/shared/PEERS.md says is fair, so that a client-credentials
// token here costs the same work as one from Ostium: an RFC 9068 `at+jwt` access
// token signed with ES256 on one core.
//
//   PORT=4000 NODE_ENV=production node server.js    # prints `ready` when listening
//
// Token endpoint: POST /token   Introspection: POST /token/introspection
// Driven by ../../run-token-bench.sh; do not tune it beyond what PEERS.md says.

import { generateKeyPairSync } from 'node:crypto';

import { Provider } from 'oidc-provider';

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('server.js: set PORT to the TCP port to listen on');
  process.exit(2);
}
const host = process.env.HOST ?? '127.0.0.1';
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`;

// An ES256 (P-256) private JWK, generated at start.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

const RESOURCE = 'urn:bench';
const SCOPE = 'bench.api';

const configuration = {
  jwks: { keys: [jwk] },
  // The client's `scope` must be a subset of what the provider supports, or the
  // static client fails validation (lazily, on its first request).
  scopes: ['openid', 'offline_access', SCOPE],
  clients: [
    {
      client_id: 'bench-client',
      client_secret: 'bench-secret',
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
      id_token_signed_response_alg: 'ES256',
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    // No browser flows are benchmarked; also keeps its dev-only warnings quiet.
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: SCOPE,
        audience: RESOURCE,
        accessTokenFormat: 'jwt',
        accessTokenTTL: 3600,
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  // Same values as the library defaults, defined here only so it does not print
  // "you SHOULD change it" notices on the first token request.
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 3600,
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || 600,
  },
};

const provider = new Provider(issuer, configuration);
// Errors are not logged per request (nothing on the hot path); a benchmark run
// counts non-2xx responses instead. Only genuine server errors are printed.
provider.on('server_error', (ctx, err) => {
  console.error('server_error', err);
});

const server = provider.listen(port, host, () => {
  console.log('ready');
});

function shutdown() {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
