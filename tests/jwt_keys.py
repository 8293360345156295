"""Signing keys and JWTs for the tests of the api's JWT verification: an identity provider's
RS256, ES256 and EdDSA keys in a JWKS file, tokens signed with them, and the forged kinds the api
must refuse (`alg: none`, HS256 signed with the public key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.example.test/"
AUDIENCE = "helicase-tests"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class IdentityProvider:
    """Three signing keys (kid = algorithm), published as a JWKS."""

    keys: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls) -> IdentityProvider:
        return cls(
            {
                "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
                "ES256": ec.generate_private_key(ec.SECP256R1()),
                "EdDSA": ed25519.Ed25519PrivateKey.generate(),
            }
        )

    def jwks(self) -> dict[str, Any]:
        out = []
        for alg, key in self.keys.items():
            public = key.public_key()
            if alg == "RS256":
                jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
            elif alg == "ES256":
                jwk = ECAlgorithm.to_jwk(public, as_dict=True)
            else:
                jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
            out.append({**jwk, "kid": alg, "alg": alg, "use": "sig"})
        return {"keys": out}

    def write_jwks(self, path: Path) -> Path:
        path.write_text(json.dumps(self.jwks()))
        return path

    def claims(self, tenant: str, role: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": ISSUER, "aud": AUDIENCE, "sub": f"user-of-{tenant}", "iat": now,
            "exp": now + 300, "helicase_tenant": tenant, "helicase_role": role, **overrides,
        }  # fmt: skip

    def token(self, tenant: str, role: str, alg: str = "RS256", **overrides: Any) -> str:
        return jwt.encode(
            self.claims(tenant, role, **overrides),
            self.keys[alg],
            algorithm=alg,
            headers={"kid": alg},
        )

    def unsigned(self, tenant: str, role: str) -> str:
        """An `alg: none` token: no signature at all."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        return f"{header}.{_b64(json.dumps(self.claims(tenant, role)).encode())}."

    def hs256_with_public_key(self, tenant: str, role: str) -> str:
        """HS256 "signed" with the RSA public key as the HMAC secret (the key-confusion
        forgery)."""
        public = (
            self.keys["RS256"]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "RS256"}).encode())
        body = _b64(json.dumps(self.claims(tenant, role)).encode())
        mac = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(mac)}"
