"""Signed, expiring links to a review page: `/ui/recommendations/{id}?exp=...&sig=...`.

Why: a clinician opens the page from a CDS card or an EHR frame, where no API key can be sent.
The link carries an expiry (unix seconds) and an HMAC-SHA256 over the id and that expiry with a
server secret; anyone holding the link can read the page until it expires (15 minutes by default),
nobody can make or stretch one without the secret. The secret comes from the settings or, when
unset, from a 0600 file under the data directory created once and shared by every worker.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from pathlib import Path
from urllib.parse import parse_qs

from features.settings import Settings

PAGE_PREFIX = "/ui/recommendations/"
PAGE_ID = re.compile(r"^[0-9a-f]{32}$")  # uuid4 hex: 122 random bits, unguessable
SECRET_FILE = "review_secret"


def page_path(page_id: str) -> str:
    return f"{PAGE_PREFIX}{page_id}"


def sign(page_id: str, expires: int, secret: bytes) -> str:
    """HMAC-SHA256 (hex) over the id and the expiry."""
    return hmac.new(secret, f"{page_id}.{expires}".encode(), hashlib.sha256).hexdigest()


def signed_query(page_id: str, secret: bytes, lifetime_s: int, now: float | None = None) -> str:
    """`exp=...&sig=...` for a link valid `lifetime_s` seconds from `now`."""
    expires = int((time.time() if now is None else now) + lifetime_s)
    return f"exp={expires}&sig={sign(page_id, expires, secret)}"


def check_link(page_id: str, query: str, secret: bytes, now: float | None = None) -> str:
    """'absent' (no link parameters), 'valid', or 'invalid' (forged, malformed or expired)."""
    params = parse_qs(query, keep_blank_values=True)
    if "sig" not in params and "exp" not in params:
        return "absent"
    exp, sig = params.get("exp", [""]), params.get("sig", [""])
    if len(exp) != 1 or len(sig) != 1 or not exp[0].isdigit() or len(exp[0]) > 12:
        return "invalid"
    if not PAGE_ID.match(page_id):
        return "invalid"
    good = hmac.compare_digest(sign(page_id, int(exp[0]), secret), sig[0])
    fresh = int(exp[0]) > (time.time() if now is None else now)
    return "valid" if good and fresh else "invalid"


def link_access(path: str, query: str, secret: bytes | None) -> str:
    """What a request without an API key may do: 'absent' (no link: 401), 'valid' or 'invalid'
    (403). Only review pages accept links."""
    if secret is None or not path.startswith(PAGE_PREFIX):
        return "absent"
    return check_link(path[len(PAGE_PREFIX) :], query, secret)


def load_secret(settings: Settings) -> bytes:
    """The link secret: `DOSEWISE_REVIEW_SECRET`, else a random one kept in
    `<data_dir>/review_secret` (created 0600 by whichever worker comes first)."""
    if settings.review_secret:
        return settings.review_secret.get_secret_value().encode()
    assert settings.data_dir is not None
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    for _ in range(50):  # another worker may be between create and write
        text = path.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.02)
    raise RuntimeError(f"empty review secret file {path}")
