"""A simulated ADFS (OpenID Connect, `/adfs/...`) over TLS, for driving the real django-auth-adfs sign-in.

It serves what the library reads from a real AD FS farm:
- `/adfs/.well-known/openid-configuration`: the endpoints, `issuer` and `access_token_issuer`;
- `/adfs/discovery/keys`: the token-signing certificate as a JWKS (`x5c`);
- `/adfs/oauth2/authorize/`: "the user signs in" — whoever the test chose with `sign_in_as`; it answers
  with a redirect back to the relying party carrying a one-time code and the `state` unchanged;
- `/adfs/oauth2/token/`: the code for an access token (RS256), minted when the code is redeemed.

The TLS certificate, its CA and the token-signing key are made at start-up with `cryptography`; the CA is
written to `ca_bundle` for the app's ADFS_CA_BUNDLE. Nothing here is a real secret.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

TOKEN_LIFETIME = 3600


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: tuple[str, rsa.RSAPrivateKey] | None = None,
    *,
    ca: bool = False,
    hosts: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if hosts:
        names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class SignIn:
    """Who signs in next, and how the token for them is made (claim overrides, the signing key)."""

    claims: dict[str, Any]
    signing_key: rsa.RSAPrivateKey | None = None


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    sign_in: SignIn
    used: bool = False


@dataclass
class AdfsSimulator:
    client_id: str
    relying_party_id: str
    audience: str
    host: str = "127.0.0.1"
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._next: SignIn | None = None
        self._grants: dict[str, Grant] = {}
        self.signing_key = _key()
        self.signing_certificate = _certificate("ADFS Signing - adfs.sandbox", self.signing_key)
        self._ca_key = _key()
        self._ca = _certificate("Sandbox ADFS CA", self._ca_key, ca=True)
        self._tls_key = _key()
        self._tls = _certificate(self.host, self._tls_key, ("Sandbox ADFS CA", self._ca_key), hosts=(self.host,))
        self._dir = tempfile.TemporaryDirectory(prefix="sandbox-adfs-")
        self.ca_bundle = str(Path(self._dir.name) / "ca.pem")
        Path(self.ca_bundle).write_bytes(self._ca.public_bytes(serialization.Encoding.PEM))

    # -- serving ------------------------------------------------------------------------------------

    def start(self) -> AdfsSimulator:
        folder = Path(self._dir.name)
        (folder / "tls.pem").write_bytes(self._tls.public_bytes(serialization.Encoding.PEM))
        (folder / "tls.key").write_bytes(
            self._tls_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.pem", folder / "tls.key")
        self._server = make_server(self.host, 0, self.wsgi, threaded=True, ssl_context=context)
        self.port = self._server.port
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-adfs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._dir.cleanup()

    @property
    def server(self) -> str:
        """What ADFS_SERVER holds: host and port (the library builds https://{ADFS_SERVER}/adfs/...)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.server}"

    @property
    def issuer(self) -> str:
        # AD FS issues access tokens as its "federation service identifier".
        return f"http://{self.server}/adfs/services/trust"

    # -- what a test controls ----------------------------------------------------------------------------

    def sign_in_as(
        self,
        username: str,
        groups: tuple[str, ...] | list[str] = (),
        *,
        signing_key: rsa.RSAPrivateKey | None = None,
        **claims: Any,
    ) -> None:
        """The next person to pass the sign-in page; `claims` override the token's (exp, aud, iss...)."""
        now = int(time.time())
        base = {
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": self.client_id,
            "winaccountname": username,
            "upn": f"{username}@acme.example",
            "given_name": username.title(),
            "family_name": "Example",
            "email": f"{username}@acme.example",
            "group": list(groups),
        }
        with self._lock:
            self._next = SignIn({**base, **claims}, signing_key)

    def token(self, sign_in: SignIn) -> str:
        key = sign_in.signing_key or self.signing_key
        return jwt.encode(sign_in.claims, key, algorithm="RS256", headers={"kid": self.key_id, "x5t": self.key_id})

    @property
    def key_id(self) -> str:
        digest = self.signing_certificate.fingerprint(hashes.SHA1())  # noqa: S303 - x5t is SHA-1 by definition
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    # -- the endpoints ------------------------------------------------------------------------------------

    def wsgi(self, environ, start_response):
        request = Request(environ)
        self.requests.append(f"{request.method} {request.path}")
        routes = {
            "/adfs/.well-known/openid-configuration": self.openid_configuration,
            "/adfs/discovery/keys": self.keys,
            "/adfs/oauth2/authorize/": self.authorize,
            "/adfs/oauth2/token/": self.token_endpoint,
            "/adfs/oauth2/logout": lambda r: Response("Signed out of AD FS"),
        }
        handler = routes.get(request.path) or routes.get(request.path + "/")
        response = handler(request) if handler else Response("Not found", status=404)
        return response(environ, start_response)

    def openid_configuration(self, request: Request) -> Response:
        base = f"{self.url}/adfs"
        return self._json(
            {
                "issuer": f"{base}",
                "access_token_issuer": self.issuer,
                "authorization_endpoint": f"{base}/oauth2/authorize/",
                "token_endpoint": f"{base}/oauth2/token/",
                "end_session_endpoint": f"{base}/oauth2/logout",
                "jwks_uri": f"{base}/discovery/keys",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    def keys(self, request: Request) -> Response:
        der = self.signing_certificate.public_bytes(serialization.Encoding.DER)
        numbers = self.signing_key.public_key().public_numbers()

        def b64(n: int) -> str:
            return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).decode().rstrip("=")

        key = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.key_id,
            "x5t": self.key_id,
            "n": b64(numbers.n),
            "e": b64(numbers.e),
            "x5c": [base64.b64encode(der).decode()],
        }
        return self._json({"keys": [key]})

    def authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("response_type") != "code" or args.get("client_id") != self.client_id:
            return self._error("invalid_request", "MSIS9223: unknown client or response type", 400)
        redirect_uri = args.get("redirect_uri", "")
        with self._lock:
            sign_in, self._next = self._next, None
            if sign_in is None:
                return Response("AD FS sign-in page: nobody signs in (the test chose no one)", status=401)
            code = secrets.token_urlsafe(24)
            self._grants[code] = Grant(self.client_id, redirect_uri, sign_in)
        query = urlencode({"code": code, **({"state": args["state"]} if "state" in args else {})})
        return Response(status=302, headers={"Location": f"{redirect_uri}?{query}"})

    def token_endpoint(self, request: Request) -> Response:
        form = request.form
        with self._lock:
            grant = self._grants.get(form.get("code", ""))
            if grant is None or grant.used:
                return self._error("invalid_grant", "MSIS9612: the authorization code is not valid", 400)
            grant.used = True
        if form.get("grant_type") != "authorization_code" or form.get("client_id") != grant.client_id:
            return self._error("invalid_client", "MSIS9607: client_id does not match the code", 400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._error("invalid_grant", "MSIS9609: redirect_uri does not match the code", 400)
        return self._json(
            {
                "access_token": self.token(grant.sign_in),
                "token_type": "bearer",
                "expires_in": TOKEN_LIFETIME,
                "resource": self.relying_party_id,
            }
        )

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, content_type="application/json")

    def _error(self, error: str, description: str, status: int) -> Response:
        return self._json({"error": error, "error_description": description}, status)
