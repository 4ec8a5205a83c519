// The browser flows with a real person's tools: headless Chromium (driven by
// playwright-core) signs in on Ostium's pages, consents and is sent back to a
// relying party, whose side is npm openid-client (PKCE, state, nonce, the RFC 9207
// `iss` parameter, the code exchange, userinfo) with jose checking the ID token's
// signature against the JWKS.
//
// It checks: the authorization code flow with the code in the query; the same with
// response_mode=form_post (the page posts the response itself); a remembered
// consent; RP-initiated logout back to the client with its state, after which the
// session is gone; a wrong password, which shows an error and grants nothing.
//
// The Rust harness (tests/tests/browser_flows.rs) starts the node and runs
// `node --test browser.test.mjs` with OSTIUM_ISSUER, OSTIUM_CHROMIUM,
// OSTIUM_WEB_CLIENT_ID, OSTIUM_USERNAME, OSTIUM_PASSWORD, OSTIUM_SUBJECT,
// OSTIUM_EMAIL and OSTIUM_API_SCOPE. Without OSTIUM_ISSUER every test is skipped.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { chromium } from 'playwright-core';

const ISSUER = process.env.OSTIUM_ISSUER;
const skip = ISSUER ? false : 'OSTIUM_ISSUER is not set (the Rust harness sets it)';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} must be set`);
  return value;
}

// The relying party's callback: a loopback server that remembers every request
// it is sent (the browser arriving with a response), and answers a small page.
class Callback {
  constructor() {
    this.waiting = [];
    this.arrivals = 0;
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url, this.origin);
        // The browser asks every new site for its icon; that is no response.
        if (url.pathname === '/favicon.ico') {
          res.writeHead(404).end();
          return;
        }
        const arrival = { method: req.method, url, body: Buffer.concat(chunks).toString(), headers: req.headers };
        res.writeHead(200, { 'content-type': 'text/html' }).end('<p>back at the client</p>');
        this.arrivals += 1;
        const next = this.waiting.shift();
        if (next) next(arrival);
      });
    });
  }
  async start() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
  }
  // The next request the browser makes here; fails after 20 s without one.
  next() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the browser never came back to the client')), 20000);
      this.waiting.push((arrival) => {
        clearTimeout(timer);
        resolve(arrival);
      });
    });
  }
  stop() {
    this.server.close();
  }
}

describe('browser flows', { skip }, () => {
  let config, browser, callback, jwks;
  let clientId, redirectUri, signedOutUri;

  before(async () => {
    clientId = env('OSTIUM_WEB_CLIENT_ID');
    config = await client.discovery(new URL(ISSUER), clientId, undefined, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri));
    callback = new Callback();
    await callback.start();
    redirectUri = `${callback.origin}/callback`;
    signedOutUri = `${callback.origin}/signed-out`;
    browser = await chromium.launch({
      executablePath: env('OSTIUM_CHROMIUM'),
      headless: true,
      args: ['--no-sandbox'],
    });
  });

  after(async () => {
    await browser?.close();
    callback?.stop();
  });

  // An authorization request as openid-client builds it, and what checks its answer.
  async function authorization(extra = {}) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: `openid email ${env('OSTIUM_API_SCOPE')} offline_access`,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      ...extra,
    });
    return { url, checks: { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true } };
  }

  async function signIn(page, password = env('OSTIUM_PASSWORD')) {
    await page.getByLabel('Username').fill(env('OSTIUM_USERNAME'));
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  // Redeems what the browser brought back, and checks everything the client gets.
  async function redeem(currentUrlOrRequest, checks) {
    const tokens = await client.authorizationCodeGrant(config, currentUrlOrRequest, checks);
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer: ISSUER, audience: clientId });
    assert.equal(payload.sub, env('OSTIUM_SUBJECT'));
    assert.equal(payload.nonce, checks.expectedNonce);
    assert.deepEqual(payload.amr, ['pwd']);
    assert.ok(payload.sid, 'the ID token names the session');
    assert.ok(tokens.refresh_token, 'offline_access brings a refresh token');
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, env('OSTIUM_SUBJECT'));
    assert.equal(userinfo.email, env('OSTIUM_EMAIL'));
    return tokens;
  }

  it('signs in, consents and the client redeems the code from the query', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url, checks } = await authorization();
    await page.goto(url.href);
    assert.equal(await page.title(), 'Sign in · Ostium');
    await signIn(page);
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    const arrival = callback.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    const back = await arrival;
    assert.equal(back.method, 'GET');
    assert.equal(back.url.searchParams.get('iss'), ISSUER);
    await redeem(back.url, checks);
    // The code is spent: a second exchange is refused.
    await assert.rejects(client.authorizationCodeGrant(config, back.url, checks));
    await context.close();
  });

  it('posts the response to the client with response_mode=form_post, remembers consent, and signs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = await authorization({ response_mode: 'form_post' });
    await page.goto(first.url.href);
    await signIn(page);
    await page.getByLabel('Remember my decision').check();
    let arrival = callback.next();
    await page.getByRole('button', { name: 'Allow' }).click();
    let back = await arrival;
    assert.equal(back.method, 'POST');
    assert.equal(new URLSearchParams(back.body).get('iss'), ISSUER);
    const request = new Request(back.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: back.body,
    });
    const tokens = await redeem(request, first.checks);

    // Signed in and consent remembered: straight back to the client.
    const second = await authorization();
    arrival = callback.next();
    await page.goto(second.url.href);
    back = await arrival;
    await redeem(back.url, second.checks);

    // RP-initiated logout, back to the client with its state.
    const logout = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: signedOutUri,
      state: 'bye',
    });
    arrival = callback.next();
    await page.goto(logout.href);
    back = await arrival;
    assert.equal(back.url.pathname, '/signed-out');
    assert.equal(back.url.searchParams.get('state'), 'bye');
    const cookies = await context.cookies(ISSUER);
    assert.ok(!cookies.some((c) => c.name === 'ostium_session'), 'the session cookie is gone');

    // The session is over: the next request asks for a sign-in again.
    const third = await authorization();
    await page.goto(third.url.href);
    assert.equal(await page.title(), 'Sign in · Ostium');
    await context.close();
  });

  it('shows a wrong password and grants nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { url } = await authorization();
    const before = callback.arrivals;
    await page.goto(url.href);
    await signIn(page, 'not the password');
    await page.getByRole('alert').waitFor();
    assert.equal(await page.getByRole('alert').textContent(), 'Wrong username or password.');
    assert.equal(await page.title(), 'Sign in · Ostium');
    const cookies = await context.cookies(ISSUER);
    assert.ok(!cookies.some((c) => c.name === 'ostium_session'), 'no session for a wrong password');
    assert.equal(callback.arrivals, before, 'the client got nothing');
    await context.close();
  });
});
