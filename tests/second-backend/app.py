"""A second backend: a FastAPI service that knows only the auth service's JWKS URL.

It answers "who am I" for a caller presenting `Authorization: Bearer <jwt>` (a token from the
auth service's `GET /api/auth/token` or get-session's `set-auth-jwt` header), verified offline
with PyJWT's `PyJWKClient` as the README shows: the key named by the token's `kid`, one of the
asymmetric algorithms the service signs with, the expected issuer and audience, and an `exp`.
Anything else is 401 with the reason. Configured by environment: JWKS_URL, JWT_ISSUER,
JWT_AUDIENCE. Run with `uvicorn app:app` (tests/second-backend/check.py does).
"""

import os

import jwt
from fastapi import FastAPI, Header, HTTPException

JWKS = jwt.PyJWKClient(os.environ["JWKS_URL"], cache_keys=True, lifespan=300, timeout=5)
ISSUER = os.environ["JWT_ISSUER"]
AUDIENCE = os.environ["JWT_AUDIENCE"]
# Never HS256 or "none": the algorithm comes from this list, not from the token.
ALGORITHMS = ["EdDSA", "ES256", "RS256"]

app = FastAPI(title="second backend")


def refuse(reason: str) -> HTTPException:
    return HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": "Bearer"})


@app.get("/whoami")
def whoami(authorization: str | None = Header(default=None)) -> dict:
    if not authorization or not authorization.startswith("Bearer "):
        raise refuse("missing bearer token")
    token = authorization.removeprefix("Bearer ")
    try:
        key = JWKS.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "iss", "aud"]},
        )
    except jwt.PyJWKClientError as err:
        raise refuse(f"unknown signing key: {err}") from None
    except jwt.ExpiredSignatureError:
        raise refuse("expired") from None
    except jwt.InvalidAudienceError:
        raise refuse("wrong audience") from None
    except jwt.InvalidSignatureError:
        raise refuse("bad signature") from None
    except jwt.InvalidTokenError as err:
        raise refuse(f"invalid token: {type(err).__name__}") from None
    return {"sub": claims["sub"], "email": claims.get("email")}
