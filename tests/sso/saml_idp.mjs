// Minimal SAML 2.0 test IdP on samlify (SP-initiated: HTTP-Redirect in, HTTP-POST out). Test use only.
//
// env: PORT (0 = any free port), CERT_FILE, KEY_FILE (PEM), SP_ENTITY_ID, SP_ACS_URL
// stdout: exactly one line `ready <port>`; errors go to stderr. Exits 0 on SIGTERM/SIGINT.
//
//   GET  /metadata  IdP metadata (entityID = http://127.0.0.1:<port>/metadata)
//   GET  /sso       ?SAMLRequest=&RelayState=  (unsigned AuthnRequest) -> login form
//   POST /login     email=, mode=, requestId=, relayState= -> auto-post form to SP_ACS_URL
//
// mode (test switches, each breaks one thing): unsigned | wrong_audience | expired | other_key
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import samlify from 'samlify'; // CommonJS package: the default import is its module.exports
import xmllint from '@authenio/samlify-xmllint-wasm'; // XSD validation: libxml2 xmllint as wasm (no Java)

const { PORT = '0', CERT_FILE, KEY_FILE, SP_ENTITY_ID, SP_ACS_URL } = process.env;
for (const [k, v] of Object.entries({ CERT_FILE, KEY_FILE, SP_ENTITY_ID, SP_ACS_URL }))
  if (!v) { console.error(`saml_idp: ${k} is required`); process.exit(2); }
const cert = fs.readFileSync(CERT_FILE, 'utf8');
const key = fs.readFileSync(KEY_FILE, 'utf8');

samlify.setSchemaValidator(xmllint); // samlify refuses to parse anything without a validator
// stdout carries only `ready <port>`: send library chatter (the validator console.debug()s every schema
// failure, samlify console.warn()s about the missing SingleLogoutService) to stderr.
console.log = console.info = console.debug = console.error;
const { namespace: ns, StatusCode } = samlify.Constants;
const { replaceTagsByValue } = samlify.SamlLib;

// Our own Response template: samlify's default has no AuthnStatement. `{AttributeStatement}` is filled
// by samlify from `attributes` below (one `{attrEmail}` / `{attrDisplayName}` tag each); every other
// {Tag} is filled by render() with XML escaping. samlify puts the signature right after the Assertion's
// Issuer, as the schema requires.
const TEMPLATE = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">'
  + '<saml:Issuer>{Issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>'
  + '<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">'
  + '<saml:Issuer>{Issuer}</saml:Issuer>'
  + '<saml:Subject><saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>'
  + '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" Recipient="{SubjectRecipient}" InResponseTo="{InResponseTo}"/></saml:SubjectConfirmation></saml:Subject>'
  + '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}"><saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>'
  + '<saml:AuthnStatement AuthnInstant="{IssueInstant}" SessionIndex="{SessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>'
  + '{AttributeStatement}</saml:Assertion></samlp:Response>';
const attr = (name) => ({ name, valueTag: name, nameFormat: 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic', valueXsiType: 'xs:string' });

// The SP this IdP serves. wantAssertionsSigned makes samlify sign the Assertion; wantMessageSigned:
// false leaves the Response itself unsigned (set it true to sign both).
const sp = samlify.ServiceProvider({
  entityID: SP_ENTITY_ID,
  assertionConsumerService: [{ Binding: ns.binding.post, Location: SP_ACS_URL }],
  wantAssertionsSigned: true,
  wantMessageSigned: false,
});

let idp, otherKeyIdp, base; // built once the port is known (entity id contains it)
function makeIdp(privateKey) {
  return samlify.IdentityProvider({
    entityID: `${base}/metadata`,
    signingCert: cert, // also the KeyInfo of every signature, even with other_key
    privateKey,
    wantAuthnRequestsSigned: false,
    nameIDFormat: [ns.format.emailAddress],
    singleSignOnService: [{ Binding: ns.binding.redirect, Location: `${base}/sso` }],
    loginResponseTemplate: { context: TEMPLATE, attributes: [attr('email'), attr('displayName')] },
  });
}

const MODES = ['', 'unsigned', 'wrong_audience', 'expired', 'other_key'];
const iso = (offsetSeconds) => new Date(Date.now() + offsetSeconds * 1000).toISOString();
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (body) => `<!doctype html><html><head><meta charset="utf-8"><title>Test IdP</title></head><body>${body}</body></html>`;
const hidden = (fields) => Object.entries(fields).map(([n, v]) => `<input type="hidden" name="${n}" value="${esc(v)}">`).join('');

async function buildResponse({ requestId, email, mode }) {
  const expired = mode === 'expired';
  const values = {
    ID: `_${crypto.randomUUID()}`,
    AssertionID: `_${crypto.randomUUID()}`, // unique per response
    IssueInstant: iso(0),
    Destination: SP_ACS_URL,
    InResponseTo: requestId,
    Issuer: `${base}/metadata`,
    StatusCode: StatusCode.Success,
    NameIDFormat: ns.format.emailAddress,
    NameID: email,
    SubjectRecipient: SP_ACS_URL,
    SubjectConfirmationDataNotOnOrAfter: expired ? iso(-600) : iso(300),
    ConditionsNotBefore: expired ? iso(-900) : iso(-30),
    ConditionsNotOnOrAfter: expired ? iso(-600) : iso(300),
    Audience: mode === 'wrong_audience' ? 'urn:test:some-other-sp' : SP_ENTITY_ID,
    SessionIndex: `_${crypto.randomUUID()}`,
    attrEmail: email,
    attrDisplayName: email.split('@')[0],
  };
  const render = (template) => replaceTagsByValue(template, values);

  if (mode === 'unsigned') // samlify always signs something: render the same template and skip it
    return Buffer.from(render(idp.entitySetting.loginResponseTemplate.context)).toString('base64');

  let signer = idp;
  if (mode === 'other_key') // a fresh key, while KeyInfo still carries the real certificate
    signer = otherKeyIdp ??= makeIdp(crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const { context } = await signer.createLoginResponse(sp, { extract: { request: { id: requestId } } }, 'post',
    { email }, { customTagReplacement: (template) => ({ id: values.ID, context: render(template) }) });
  return context; // base64, Assertion signed with RSA-SHA256, enveloped, exc-c14n, X509Certificate in KeyInfo
}

async function handle(req, res) {
  const url = new URL(req.url, base);
  const send = (status, type, body) => { res.writeHead(status, { 'content-type': type }); res.end(body); };

  if (req.method === 'GET' && url.pathname === '/metadata')
    return send(200, 'application/samlmetadata+xml', idp.getMetadata());

  if (req.method === 'GET' && url.pathname === '/sso') {
    const query = Object.fromEntries(url.searchParams);
    // octetString only matters for signed redirect requests, which this IdP does not ask for
    const { extract } = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: '' });
    const acs = extract.request.assertionConsumerServiceUrl;
    if (extract.issuer !== SP_ENTITY_ID || (acs && acs !== SP_ACS_URL))
      return send(400, 'text/plain', `unexpected SP: issuer ${extract.issuer}, ACS ${acs}\n`);
    return send(200, 'text/html; charset=utf-8', page(
      `<form method="post" action="/login">${hidden({ requestId: extract.request.id, relayState: query.RelayState ?? '' })}`
      + '<label>Email <input type="text" name="email" value=""></label> '
      + '<label>Mode <input type="text" name="mode" value=""></label> '
      + '<button type="submit">Sign in</button></form>'));
  }

  if (req.method === 'POST' && url.pathname === '/login') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = Object.fromEntries(new URLSearchParams(body));
    if (!form.requestId || !form.email) return send(400, 'text/plain', 'requestId and email are required\n');
    if (!MODES.includes(form.mode ?? '')) return send(400, 'text/plain', `unknown mode ${form.mode}\n`);
    const samlResponse = await buildResponse(form);
    return send(200, 'text/html; charset=utf-8', page(
      `<form method="post" action="${esc(SP_ACS_URL)}">${hidden({ SAMLResponse: samlResponse, RelayState: form.relayState ?? '' })}`
      + '<noscript><button type="submit">Continue</button></noscript></form>'
      + '<script>document.forms[0].submit()</script>'));
  }
  send(404, 'text/plain', 'not found\n');
}

const server = http.createServer((req, res) => handle(req, res).catch((err) => {
  console.error('saml_idp:', err); // samlify rejects with plain strings or Errors such as ERR_INVALID_XML
  if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
  res.end(`bad request: ${err?.message ?? err}\n`);
}));
server.listen(Number(PORT), '127.0.0.1', () => {
  const { port } = server.address();
  base = `http://127.0.0.1:${port}`;
  idp = makeIdp(key);
  process.stdout.write(`ready ${port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0)); // keep-alive sockets: don't wait
