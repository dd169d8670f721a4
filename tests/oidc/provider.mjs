// A real OpenID provider (panva/oidc-provider v8) for regauth's tests, on a loopback port.
//
// Started by tests/oidc/harness.py with one JSON argument:
//   {
//     "port": 0,                       // the port to listen on (127.0.0.1)
//     "issuer": "http://127.0.0.1:PORT",
//     "clients": [{ "client_id", "client_secret", "redirect_uris": [...] }],
//     "accounts": { "alice": { "groups": ["devs"], "email": "...", "preferred_username": "...",
//                              "access_token_ttl": 3600 } },
//     "resource": { "indicator": "https://registry.test", "audience": "https://registry.test" },
//     "jwks": { "keys": [ private JWKs ] }   // signing keys (the harness rotates them)
//   }
//
// What it sets up, as test-peers.md describes:
// * devInteractions: a login form that accepts any password; the login becomes `sub`.
// * PKCE required (S256 only); grants authorization_code, refresh_token, client_credentials.
// * findAccount returns preferred_username, email and groups (from "accounts", or derived
//   from the login); conformIdTokenClaims false, so they appear in the ID token.
// * introspection and revocation on.
// * resourceIndicators: an access token for the resource is a JWT whose audience is the
//   resource's "audience" (and carries preferred_username and groups, as Keycloak-style
//   providers put them there); without a resource the access token is opaque (UserInfo).
// * GET /__test/counts answers {path: number of requests}; POST /__test/counts resets them.
// Prints "listening <issuer>" on stdout once it accepts connections.

import * as http from 'node:http';

import Provider, { errors } from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const accounts = settings.accounts ?? {};
const counts = {};

function account(id) {
  const known = accounts[id] ?? {};
  return {
    preferred_username: known.preferred_username ?? id,
    email: known.email ?? `${id}@example.test`,
    email_verified: known.email_verified ?? true,
    groups: known.groups ?? [],
    access_token_ttl: known.access_token_ttl ?? 3600,
  };
}

const configuration = {
  clients: settings.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? 'client_secret_basic',
  })),
  jwks: settings.jwks,
  cookies: { keys: ['regauth-test-provider-cookie-key'] },
  pkce: { required: () => true, methods: ['S256'] },
  conformIdTokenClaims: false,
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => false,
      getResourceServerInfo: async (ctx, indicator) => {
        if (!settings.resource || indicator !== settings.resource.indicator) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: 'registry',
          audience: settings.resource.audience,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: {
    AccessToken: (ctx, token) => (token.accountId ? account(token.accountId).access_token_ttl : 3600),
    ClientCredentials: 600,
    IdToken: 3600,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 3600,
    Grant: 3600,
  },
  extraTokenClaims: async (ctx, token) => {
    if (!token.accountId || token.resourceServer?.accessTokenFormat !== 'jwt') return undefined;
    const { preferred_username, groups } = account(token.accountId);
    return { preferred_username, groups };
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        const { preferred_username, email, email_verified, groups } = account(id);
        return {
          sub: id, name: id, preferred_username, email, email_verified, groups,
        };
      },
    };
  },
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const provider = new Provider(settings.issuer, configuration);

provider.use(async (ctx, next) => {
  if (ctx.path === '/__test/counts') {
    if (ctx.method === 'POST') {
      for (const key of Object.keys(counts)) delete counts[key];
    }
    ctx.body = { ...counts };
    return;
  }
  counts[ctx.path] = (counts[ctx.path] ?? 0) + 1;
  await next();
});

const server = http.createServer(provider.callback());
server.listen(settings.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${settings.issuer}\n`);
});

function stop() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
