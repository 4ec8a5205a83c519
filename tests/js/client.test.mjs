// End-to-end check of a running Ostium server with a real third-party client:
// openid-client (discovery, client authentication, token requests) and jose
// (JWT access-token verification against the server's JWKS, RFC 9068 claims).
//
// It checks: discovery metadata; the client_credentials grant with
// client_secret_basic and client_secret_post; the resource owner password
// grant; rejection of a wrong password (invalid_grant) and of a wrong client
// secret (invalid_client, 401).
//
// The Rust test harness starts the server, runs `npm ci` here, then runs
// `node --test` in this directory with OSTIUM_ISSUER, OSTIUM_AUDIENCE,
// OSTIUM_CC_CLIENT_ID/_SECRET/_SCOPE, OSTIUM_PW_CLIENT_ID/_SECRET/_SCOPE,
// OSTIUM_USERNAME, OSTIUM_PASSWORD and OSTIUM_SUBJECT set. Without
// OSTIUM_ISSUER every test is skipped.

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const ISSUER = process.env.OSTIUM_ISSUER;
const skip = ISSUER ? false : 'OSTIUM_ISSUER is not set (the Rust harness sets it)';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} must be set`);
  return value;
}

// The server is plain http on loopback, so openid-client's HTTPS-only rule
// is lifted for discovery and for every request made with the returned config.
function discover(clientId, clientSecret, clientAuth) {
  return client.discovery(new URL(ISSUER), clientId, clientSecret, clientAuth(clientSecret), {
    execute: [client.allowInsecureRequests],
  });
}

// Settles a promise that must reject and returns its error.
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('the request succeeded but should have been rejected');
}

// The OAuth error code and HTTP status of a rejected token request.
// openid-client throws ResponseBodyError for an error body, but when the
// response carries a WWW-Authenticate header (RFC 6749 §5.2 requires one on a
// 401 after HTTP Basic client authentication) it throws
// WWWAuthenticateChallengeError instead, leaving the body unread.
async function oauthError(err) {
  if (err instanceof client.ResponseBodyError) {
    return { status: err.status, error: err.error };
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    const body = await err.response.json();
    return { status: err.status, error: body.error };
  }
  throw err;
}

describe('Ostium with openid-client', () => {
  let cc; // client_credentials client
  let pw; // password-grant client
  let user;
  let audience;
  let ccBasic; // Configuration, client_secret_basic
  let metadata;
  let jwks; // jose remote key set
  let jwksKids; // kids listed at jwks_uri

  before(async () => {
    if (skip) return;
    cc = {
      id: env('OSTIUM_CC_CLIENT_ID'),
      secret: env('OSTIUM_CC_CLIENT_SECRET'),
      scope: env('OSTIUM_CC_SCOPE'),
    };
    pw = {
      id: env('OSTIUM_PW_CLIENT_ID'),
      secret: env('OSTIUM_PW_CLIENT_SECRET'),
      scope: env('OSTIUM_PW_SCOPE'),
    };
    user = {
      username: env('OSTIUM_USERNAME'),
      password: env('OSTIUM_PASSWORD'),
      subject: env('OSTIUM_SUBJECT'),
    };
    audience = env('OSTIUM_AUDIENCE');

    ccBasic = await discover(cc.id, cc.secret, client.ClientSecretBasic);
    metadata = ccBasic.serverMetadata();
    jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));

    const res = await fetch(metadata.jwks_uri);
    assert.equal(res.status, 200, 'GET jwks_uri');
    const set = await res.json();
    assert.ok(Array.isArray(set.keys) && set.keys.length > 0, 'JWKS has keys');
    jwksKids = set.keys.map((k) => k.kid);
    for (const k of set.keys) {
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
        assert.equal(k[priv], undefined, `JWKS key ${k.kid} must not expose "${priv}"`);
      }
    }
  });

  // Verifies an access token as a resource server would (RFC 9068) and
  // returns its claims.
  async function verifyAccessToken(token, { sub, clientId, scope }) {
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: metadata.issuer,
      audience,
      typ: 'at+jwt',
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'],
    });
    assert.equal(typeof protectedHeader.kid, 'string', 'JWS header has a kid');
    assert.ok(jwksKids.includes(protectedHeader.kid), `kid ${protectedHeader.kid} is in the JWKS`);

    assert.equal(payload.iss, metadata.issuer);
    assert.equal(payload.sub, sub);
    assert.equal(payload.client_id, clientId);
    const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    assert.ok(aud.includes(audience), `aud ${JSON.stringify(payload.aud)} includes ${audience}`);
    assert.equal(typeof payload.scope, 'string', 'scope is a space-separated string');
    const granted = payload.scope.split(' ');
    for (const s of scope.split(' ')) {
      assert.ok(granted.includes(s), `scope "${payload.scope}" includes ${s}`);
    }
    assert.equal(typeof payload.jti, 'string');
    assert.ok(payload.jti.length > 0, 'jti is not empty');
    assert.ok(Number.isInteger(payload.iat), 'iat is an integer');
    assert.ok(Number.isInteger(payload.exp), 'exp is an integer');
    assert.ok(payload.exp > payload.iat, 'exp is after iat');
    return payload;
  }

  function assertBearerResponse(res) {
    assert.equal(typeof res.access_token, 'string');
    assert.ok(res.access_token.length > 0);
    assert.equal(res.token_type.toLowerCase(), 'bearer');
    assert.equal(typeof res.expires_in, 'number');
    assert.ok(res.expires_in > 0, 'expires_in > 0');
  }

  it('discovery returns the server metadata', { skip }, () => {
    // openid-client has already checked that metadata.issuer matches OSTIUM_ISSUER.
    assert.equal(new URL(metadata.issuer).href, new URL(ISSUER).href);
    assert.equal(typeof metadata.token_endpoint, 'string');
    assert.equal(typeof metadata.jwks_uri, 'string');
    assert.ok(Array.isArray(metadata.grant_types_supported), 'grant_types_supported is an array');
    for (const grant of ['client_credentials', 'password']) {
      assert.ok(metadata.grant_types_supported.includes(grant), `grant_types_supported includes ${grant}`);
    }
  });

  it('client_credentials with client_secret_basic returns a valid RFC 9068 access token', { skip }, async () => {
    const res = await client.clientCredentialsGrant(ccBasic, { scope: cc.scope });
    assertBearerResponse(res);
    await verifyAccessToken(res.access_token, { sub: cc.id, clientId: cc.id, scope: cc.scope });
  });

  it('client_credentials with client_secret_post returns a token', { skip }, async () => {
    const ccPost = await discover(cc.id, cc.secret, client.ClientSecretPost);
    const res = await client.clientCredentialsGrant(ccPost, { scope: cc.scope });
    assertBearerResponse(res);
    await verifyAccessToken(res.access_token, { sub: cc.id, clientId: cc.id, scope: cc.scope });
  });

  it('password grant returns a token for the user', { skip }, async () => {
    const config = await discover(pw.id, pw.secret, client.ClientSecretBasic);
    const res = await client.genericGrantRequest(config, 'password', {
      username: user.username,
      password: user.password,
      scope: pw.scope,
    });
    assertBearerResponse(res);
    const claims = await verifyAccessToken(res.access_token, {
      sub: user.subject,
      clientId: pw.id,
      scope: pw.scope,
    });
    assert.equal(claims.sub, user.subject);
    assert.equal(claims.client_id, pw.id);
  });

  it('password grant with a wrong password is rejected with invalid_grant', { skip }, async () => {
    const config = await discover(pw.id, pw.secret, client.ClientSecretBasic);
    const err = await rejection(
      client.genericGrantRequest(config, 'password', {
        username: user.username,
        password: `${user.password}-wrong`,
        scope: pw.scope,
      }),
    );
    assert.ok(err instanceof client.ResponseBodyError, `expected ResponseBodyError, got ${err?.name}: ${err?.message}`);
    assert.equal(err.error, 'invalid_grant');
    assert.equal(err.status, 400);
  });

  for (const [name, auth] of [
    ['client_secret_basic', client.ClientSecretBasic],
    ['client_secret_post', client.ClientSecretPost],
  ]) {
    it(`a wrong client secret (${name}) is rejected with invalid_client and 401`, { skip }, async () => {
      const config = await discover(cc.id, `${cc.secret}-wrong`, auth);
      const err = await rejection(client.clientCredentialsGrant(config, { scope: cc.scope }));
      const { status, error } = await oauthError(err);
      assert.equal(error, 'invalid_client');
      assert.equal(status, 401);
    });
  }
});
