"""DPoP proofs (RFC 9449) as Okta checks them, on its token endpoint and on every Management API call.

A proof is a JWT the client signs with a key of its own and sends in the `DPoP` header: its header
carries the public key (`jwk`) and `typ: dpop+jwt`; its claims name the request (`htm`, `htu`: the
URL without query or fragment), when it was made (`iat`) and a unique id (`jti`); on an API call also
the hash of the access token (`ath`); on the token endpoint the nonce Okta handed out. Okta refuses a
bad proof with `invalid_dpop_proof` and says why in words it uses (kept below as it writes them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

import jwt

# What Okta's authorization server advertises as dpop_signing_alg_values_supported.
ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
# How far a proof's `iat` may be from Okta's clock.
MAX_AGE = 300
MAX_AHEAD = 60
# The members of each key type that make its RFC 7638 thumbprint, in the order it takes them.
THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


class InvalidProof(Exception):
    """A proof Okta would refuse; `description` is what Okta says (error_description)."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class Proof:
    jkt: str  # the thumbprint of the key that signed it: what a token is bound to
    jti: str
    nonce: str | None


def thumbprint(jwk: dict) -> str:
    """RFC 7638: the SHA-256 of the key's required members as compact JSON, base64url without padding."""
    members = THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


def token_hash(access_token: str) -> str:
    """The `ath` claim: base64url of the SHA-256 of the access token."""
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unverified_id(proof: str) -> str:
    """The jti a proof claims, unchecked ("" if it has none)."""
    try:
        jti = jwt.decode(proof, options={"verify_signature": False}).get("jti") if proof else None
    except jwt.PyJWTError:
        return ""
    return str(jti) if jti else ""


def check(
    header_values: list[str],
    method: str,
    url: str,
    now: float,
    used_ids: set[str],
    access_token: str | None = None,
) -> Proof:
    """The proof sent for `method url` if Okta would accept it; InvalidProof saying why if not.

    `used_ids` holds the jti of every proof accepted before: this one's is added to it. `access_token`
    (on an API call) must be the one the proof's `ath` hashes.
    """
    if not header_values:
        raise InvalidProof("The DPoP proof JWT header is missing.")
    if len(header_values) > 1:
        raise InvalidProof("Only one DPoP proof JWT header is allowed.")
    proof = header_values[0]
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError:
        raise InvalidProof("The DPoP proof JWT is malformed.") from None
    if header.get("typ") != "dpop+jwt":
        raise InvalidProof("The DPoP proof JWT 'typ' header must be 'dpop+jwt'.")
    if header.get("alg") not in ALGORITHMS:
        raise InvalidProof(f"The DPoP proof JWT 'alg' header must be one of {', '.join(ALGORITHMS)}.")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in THUMBPRINT_MEMBERS:
        raise InvalidProof("The DPoP proof JWT 'jwk' header must be a public RSA or EC key.")
    if PRIVATE_MEMBERS & set(jwk):
        raise InvalidProof("The DPoP proof JWT 'jwk' header must not contain a private key.")
    try:
        key = jwt.PyJWK(jwk, header["alg"]).key
        claims = jwt.decode(proof, key, algorithms=[header["alg"]], options={"verify_iat": False})
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        raise InvalidProof("The DPoP proof JWT signature is invalid.") from None
    for name in ("jti", "htm", "htu", "iat"):
        if name not in claims:
            raise InvalidProof(f"The DPoP proof JWT is missing the '{name}' claim.")
    if claims["htm"] != method:
        raise InvalidProof("'htm' claim in the DPoP proof JWT is invalid.")
    if claims["htu"] != url:
        raise InvalidProof("'htu' claim in the DPoP proof JWT is invalid.")
    if not isinstance(claims["iat"], int | float) or isinstance(claims["iat"], bool):
        raise InvalidProof("'iat' claim in the DPoP proof JWT is invalid.")
    if claims["iat"] < now - MAX_AGE:
        raise InvalidProof("The DPoP proof JWT is issued more than five minutes in the past.")
    if claims["iat"] > now + MAX_AHEAD:
        raise InvalidProof("The DPoP proof JWT is issued in the future.")
    if access_token is not None:
        if "ath" not in claims:
            raise InvalidProof("The DPoP proof JWT is missing the 'ath' claim.")
        if claims["ath"] != token_hash(access_token):
            raise InvalidProof("'ath' claim in the DPoP proof JWT is invalid.")
    jti = str(claims["jti"])
    if jti in used_ids:
        raise InvalidProof("The DPoP proof JWT has already been used.")
    used_ids.add(jti)
    nonce = claims.get("nonce")
    return Proof(jkt=thumbprint(jwk), jti=jti, nonce=nonce if isinstance(nonce, str) else None)
