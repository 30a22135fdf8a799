"""The suite's identity providers, started as real processes, and a browser walk through
their login pages (no browser: their forms are read and posted as one would)."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
from authlib.jose import JsonWebKey

TESTS = Path(__file__).resolve().parents[1]
# The frontend's secret for its logins (sessionStorage in a browser): logins start with its
# SHA-256, codes are swapped with it.
VERIFIER = "frontend-secret-" + "v" * 32
CLIENT = hashlib.sha256(VERIFIER.encode()).hexdigest()
NODE_MODULES = TESTS / "node_modules"


def rsa_jwk(kid: str) -> dict[str, Any]:
    key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": kid})
    jwk: dict[str, Any] = key.as_dict(is_private=True)
    jwk.update(alg="RS256", use="sig")
    return jwk


class OidcProvider:
    """panva's certified `oidc-provider` (npm) under Node, with one confidential client: the
    login name typed in its login form is the account's email."""

    def __init__(self, workdir: Path, redirect_uri: str) -> None:
        self.workdir = workdir
        self.redirect_uri = redirect_uri
        self.client_id = "tq-" + secrets.token_hex(4)
        self.client_secret = "cs-" + secrets.token_urlsafe(24)
        self.keys = [rsa_jwk("key-1")]
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None
        self.dns_server: FakeDns | None = None  # where its organizations verify their domains

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcProvider:
        jwks = self.workdir / "jwks.json"
        jwks.write_text(json.dumps({"keys": self.keys}))
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "NODE_PATH": str(NODE_MODULES),
            "PORT": str(self.port),
            "CLIENT_ID": self.client_id,
            "CLIENT_SECRET": self.client_secret,
            "REDIRECT_URI": self.redirect_uri,
            "JWKS_FILE": str(jwks),
            "ID_TOKEN_TTL": "300",
        }
        self.proc = subprocess.Popen(
            ["node", str(Path(__file__).with_name("oidc_provider.mjs"))],
            cwd=TESTS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("ready "):
                self.port = int(line.split()[1])
                return self
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("oidc-provider did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()

    def rotate(self) -> None:
        """A new signing key first, the old one still published: the provider restarted
        on the same address."""
        self.stop()
        self.keys = [rsa_jwk(f"key-{len(self.keys) + 1}"), *self.keys]
        self.start()


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"action": found.get("action") or "", "method": found.get("method"), "fields": {}}
            )
        elif tag == "input" and self.forms and found.get("name"):
            self.forms[-1]["fields"][found["name"]] = found.get("value") or ""


def forms_of(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


async def oidc_browser_login(start_url: str, email: str, stop_at: str) -> str:
    """Follow the provider's pages from `start_url` as a browser, signing in as `email` and
    consenting, until a redirect to `stop_at`: that URL (our callback, with code and state)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        url, method, data = start_url, "GET", None
        for _ in range(20):
            answer = await browser.request(method, url, data=data)
            if answer.status_code in (302, 303):
                url = urljoin(url, answer.headers["location"])
                if url.startswith(stop_at):
                    return url
                method, data = "GET", None
                continue
            assert answer.status_code == 200, answer.text
            form = forms_of(answer.text)[0]
            fields = dict(form["fields"])
            if "login" in fields:
                fields.update(login=email, password="anything")
            url, method, data = urljoin(url, form["action"]), "POST", fields
    raise AssertionError("the provider never redirected back")


def self_signed(common_name: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a fresh RSA key: an identity provider's."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    return cert_pem, key_pem


def idp_metadata(entity_id: str, sso_url: str, cert_pem: str) -> str:
    """SAML 2.0 metadata of an identity provider, as an admin pastes it."""
    body = "".join(line for line in cert_pem.splitlines() if "CERTIFICATE" not in line)
    md = "urn:oasis:names:tc:SAML:2.0:metadata"
    redirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
    return f"""<EntityDescriptor entityID="{entity_id}" xmlns="{md}">
  <IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <KeyDescriptor use="signing">
      <KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#">
        <X509Data><X509Certificate>{body}</X509Certificate></X509Data>
      </KeyInfo>
    </KeyDescriptor>
    <NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</NameIDFormat>
    <SingleSignOnService Binding="{redirect}" Location="{sso_url}"/>
  </IDPSSODescriptor>
</EntityDescriptor>"""


class SamlIdp:
    """A SAML 2.0 identity provider on `samlify` (npm) under Node, serving one service
    provider (ours, for one organization); `mode` in its login form breaks one thing of the
    response for the tests (unsigned, wrong_audience, expired, other_key)."""

    def __init__(self, workdir: Path, sp_entity_id: str, acs_url: str) -> None:
        self.workdir = workdir
        self.sp_entity_id = sp_entity_id
        self.acs_url = acs_url
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> SamlIdp:
        cert, key = self_signed("test IdP")
        (self.workdir / "idp-cert.pem").write_text(cert)
        (self.workdir / "idp-key.pem").write_text(key)
        env = {
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "PORT": "0",
            "CERT_FILE": str(self.workdir / "idp-cert.pem"),
            "KEY_FILE": str(self.workdir / "idp-key.pem"),
            "SP_ENTITY_ID": self.sp_entity_id,
            "SP_ACS_URL": self.acs_url,
        }
        self.proc = subprocess.Popen(
            ["node", str(Path(__file__).with_name("saml_idp.mjs"))],
            cwd=TESTS,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.stop()
            raise RuntimeError("the SAML identity provider did not start")
        self.port = int(line.split()[1])
        return self

    def metadata(self) -> str:
        return httpx.get(f"{self.base}/metadata", timeout=10).text

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()


async def saml_browser_login(
    start_url: str, email: str, mode: str = ""
) -> tuple[str, dict[str, str]]:
    """The identity provider's login page from `start_url` (its SSO URL with our request),
    signed in as `email`: (where its auto-post form goes, the form's fields)."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10) as browser:
        page = await browser.get(start_url)
        assert page.status_code == 200, page.text
        form = forms_of(page.text)[0]
        fields = {**form["fields"], "email": email, "mode": mode}
        posted = await browser.post(urljoin(start_url, form["action"]), data=fields)
        assert posted.status_code == 200, posted.text
        auto = forms_of(posted.text)[0]
        return auto["action"], auto["fields"]


class FakeDns:
    """A DNS server on loopback (UDP) that answers TXT questions from `records` (name →
    strings) and NXDOMAIN otherwise: where an organization "publishes" its verification
    records in the suite (SSO_DNS_SERVER points at it)."""

    def __init__(self) -> None:
        import socket

        self.records: dict[str, list[str]] = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread: Any = None

    def start(self) -> FakeDns:
        import threading

        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        return self

    def _serve(self) -> None:
        import dns.message
        import dns.rcode
        import dns.rdatatype
        import dns.rrset

        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            query = dns.message.from_wire(data)
            answer = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text().rstrip(".").lower()
            values = self.records.get(name)
            if question.rdtype == dns.rdatatype.TXT and values:
                quoted = [f'"{value}"' for value in values]
                answer.answer.append(dns.rrset.from_text(question.name, 60, "IN", "TXT", *quoted))
            else:
                answer.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(answer.to_wire(), peer)

    def publish(self, name: str, value: str) -> None:
        self.records.setdefault(name.lower(), []).append(value)

    def stop(self) -> None:
        self.sock.close()


async def verify_domains(
    http: httpx.AsyncClient, dns_server: FakeDns, admin: dict[str, Any], org_id: str
) -> dict[str, Any]:
    """Publish each unverified domain's TXT record, then have the organization verify it."""
    connection: dict[str, Any] = (
        await http.get(f"/api/orgs/{org_id}/sso", headers=admin["headers"])
    ).json()["connection"]
    for entry in connection["domains"]:
        if not entry["verified"]:
            dns_server.publish(entry["txtName"], entry["txtValue"])
            verified = await http.post(
                f"/api/orgs/{org_id}/sso/domains/{entry['domain']}/verify",
                headers=admin["headers"],
            )
            assert verified.status_code == 200, verified.text
            connection = verified.json()["connection"]
    return connection
