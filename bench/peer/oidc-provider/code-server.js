// Peer server for Ostium's authorization-code benchmark: npm `oidc-provider`
// (panva), configured as /work/shared/PEERS.md says is fair, so that one code
// exchange here costs the same work as one at Ostium: `GET /auth` with a signed-in
// session answers 303 with a code, and `POST /token` (PKCE S256, a public client)
// answers an ES256 ID token and an RFC 9068 `at+jwt` access token signed with ES256.
//
//   PORT=4000 NODE_ENV=production node code-server.js    # prints `ready` when listening
//
// Authorization: GET /auth   Token: POST /token
// Sign-in (done once with curl before a run, never measured): the authorization
// request without a session answers 303 to /interaction/UID; POST there with
// `login` and `password` (BENCH_USERNAME / BENCH_PASSWORD, default bench / bench)
// signs in and grants the client `openid` and the resource's scope at once, as a
// client that needs no consent: the next authorization requests need no
// interaction. The session cookie is `_session`.
//
// Storage: ./memory-adapter.js, the built-in development adapter without its
// per-grant scan on every save, which only a one-user benchmark meets (see there).
// PEER_ADAPTER=builtin uses the built-in one instead, to see that cost.
//
// Driven by ../../run-code-bench.sh; do not tune it beyond what PEERS.md says.

import { generateKeyPairSync } from 'node:crypto';

import { Provider } from 'oidc-provider';

import MemoryAdapter from './memory-adapter.js';

const port = Number.parseInt(process.env.PORT ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('code-server.js: set PORT to the TCP port to listen on');
  process.exit(2);
}
const host = process.env.HOST ?? '127.0.0.1';
const issuer = process.env.ISSUER ?? `http://127.0.0.1:${port}`;
const username = process.env.BENCH_USERNAME ?? 'bench';
const password = process.env.BENCH_PASSWORD ?? 'bench';
const clientId = process.env.BENCH_CLIENT_ID ?? 'bench-web';
const redirectUri = process.env.BENCH_REDIRECT_URI ?? 'http://127.0.0.1/callback';

// An ES256 (P-256) private JWK, generated at start.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'bench-es256' };

// Access tokens are JWTs only for a resource server (PEERS.md), so every
// authorization gets this one by default and the token endpoint uses it.
const RESOURCE = 'urn:bench';
const SCOPE = 'bench.api';

// One account, found by its subject; its only claim is `sub`.
const SUBJECT = 'bench-user';
async function findAccount(ctx, id) {
  if (id !== SUBJECT) return undefined;
  return { accountId: id, claims: async () => ({ sub: id }) };
}

const configuration = {
  ...(process.env.PEER_ADAPTER === 'builtin' ? {} : { adapter: MemoryAdapter }),
  jwks: { keys: [jwk] },
  findAccount,
  scopes: ['openid', SCOPE],
  claims: { openid: ['sub'] },
  clients: [
    {
      client_id: clientId,
      token_endpoint_auth_method: 'none', // public client, client_id in the body
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [redirectUri],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  pkce: { required: () => true }, // S256 is its only method
  features: {
    devInteractions: { enabled: false },
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
  // Same values as the library defaults, defined here only so it
  // does not print "you SHOULD change it" notices on the first requests.
  ttl: {
    AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || 3600,
    AuthorizationCode: 60,
    IdToken: 3600,
    Grant: 14 * 24 * 60 * 60,
    Interaction: 3600,
    Session: 14 * 24 * 60 * 60,
  },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (ctx, err) => {
  console.error('server_error', err);
});

// The sign-in, as small as it can be: not part of what is measured.
async function readForm(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return new URLSearchParams(raw);
}
provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/interaction\/([^/]+)$/);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<form method="post" action="/interaction/${details.uid}">`
      + '<input name="login"><input name="password" type="password"><button>Sign in</button></form>';
    return undefined;
  }
  if (ctx.method !== 'POST') return next();
  const form = await readForm(ctx.req);
  if (form.get('login') !== username || form.get('password') !== password) {
    ctx.status = 401;
    ctx.body = 'wrong username or password';
    return undefined;
  }
  const grant = new provider.Grant({ accountId: SUBJECT, clientId: details.params.client_id });
  grant.addOIDCScope('openid');
  grant.addResourceScope(RESOURCE, SCOPE);
  const grantId = await grant.save();
  const to = await provider.interactionResult(ctx.req, ctx.res, {
    login: { accountId: SUBJECT },
    consent: { grantId },
  }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
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
