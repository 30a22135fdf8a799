// Test OpenID Provider built on the real `oidc-provider` package (panva), for
// driving a browserless OIDC login from a Python test suite.
//
// Environment:
//   PORT          port to bind on 127.0.0.1 (0 = pick a free one; default 0)
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI   the single static client
//   JWKS_FILE     path to a JSON private JWK set ({"keys":[...]}, RSA, with kid).
//                 The FIRST key is used to sign ID tokens; the others are still
//                 published on jwks_uri (useful for rotation).
//   ID_TOKEN_TTL  ID token lifetime in seconds (default 300)
//   TOKEN_AUTH_METHOD  client_secret_basic (default) | client_secret_post
//
// Prints "ready <port>" on stdout once listening. Exits 0 on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

function env(name, fallback) {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`missing environment variable ${name}`);
    process.exit(2);
  }
  return v;
}

const CLIENT_ID = env('CLIENT_ID');
const CLIENT_SECRET = env('CLIENT_SECRET');
const REDIRECT_URI = env('REDIRECT_URI');
const JWKS = JSON.parse(readFileSync(env('JWKS_FILE'), 'utf8'));
const ID_TOKEN_TTL = Number(env('ID_TOKEN_TTL', '300'));
const TOKEN_AUTH_METHOD = env('TOKEN_AUTH_METHOD', 'client_secret_basic');

// Listen first (PORT=0 supported), then build the provider with the real port
// in the issuer, then attach its request handler.
let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(env('PORT', '0')), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: TOKEN_AUTH_METHOD,
    id_token_signed_response_alg: 'RS256',
  }],
  jwks: JWKS,
  responseTypes: ['code'],
  // PKCE is only required by default for public clients; force it for all.
  // (Only S256 is supported by oidc-provider v9, "plain" is rejected.)
  pkce: { required: () => true },
  // Without this, for response_type=code the ID token only carries sub/iss/aud/...
  // and email/name go to userinfo only. We want them IN the ID token.
  conformIdTokenClaims: false,
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // The login name typed into the dev-interaction form IS the account id/email.
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          email: sub,
          email_verified: true,
          name: sub.split('@')[0].replace(/[._-]+/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase()),
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true }, // built-in login form + consent page (default: on)
    rpInitiatedLogout: { enabled: false },
    resourceIndicators: { enabled: false },
    pushedAuthorizationRequests: { enabled: false },
  },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    IdToken: ID_TOKEN_TTL,
    AccessToken: 600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  // Plain-text errors are friendlier in test logs than the default HTML page.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
if (process.env.OIDC_DEBUG) {
  for (const ev of ['authorization.error', 'grant.error', 'userinfo.error', 'jwks.error']) {
    provider.on(ev, (ctx, err) => console.error(ev, err.message, err.error_description ?? ''));
  }
}

handler = provider.callback();
console.log(`ready ${port}`);

function shutdown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
