"""Pagination cursors that cannot be forged, replayed on another device or query, or used after they expire.

A cursor is `base64url(payload) "." base64url(mac)`: the payload (JSON) holds where the last page stopped,
what the cursor is bound to (the `binding` the route passes: api.params.PageRequest.binding decides which
fields), when it expires (epoch seconds) and the key period it was signed in; the MAC is HMAC-SHA-256 over
the payload with that period's signing subkey.

The subkey of a period is KMS GenerateMac(API HMAC key, label of the period): KMS documents GenerateMac's
output as usable for key derivation. A container derives it once per period and keeps it in memory only, so a
warm function signs and checks cursors locally (hmac, constant-time compare) and makes no KMS request; the
root secret never leaves KMS, and no key is in a file, Terraform state or output, environment or log. A
leaked subkey could forge cursors for one period only, and a cursor only resumes a listing the caller may
read anyway."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable

from api.http import bad_request

MAC_ALGORITHM = "HMAC_SHA_256"
MAC_BYTES = 32
MAX_CURSOR_CHARS = 1024  # far above a real cursor (~260); refuses junk before any work or KMS call
VERSION = 2  # v1 cursors (MAC by KMS itself) are refused as malformed: they lived one TTL, at most a day
KEY_PERIOD_SECONDS = 86_400  # one subkey a day: ≥ the longest cursor TTL (Terraform caps it at 86,400 s)
# Periods a cursor may carry: the current one, the previous one (a cursor issued just before the boundary) and
# the next one (an issuing container whose clock is slightly ahead). Any other period costs no KMS request.
ACCEPTED_PERIOD_OFFSETS = (-1, 0, 1)
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_MALFORMED = "cursor is malformed; pass next_cursor from the previous page unchanged"

# key ARN -> {period: subkey}; module-level, so it lives as long as the Lambda container (the warm path).
_subkeys: dict[str, dict[int, bytes]] = {}


def reset_subkeys() -> None:
    """Forget every derived subkey (a cold container)."""
    _subkeys.clear()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def subkey_label(period: int) -> bytes:
    """The message KMS MACs to derive a period's subkey: names its purpose, version and period length."""
    return f"telemetry-api/cursor-subkey/v{VERSION}/{KEY_PERIOD_SECONDS}s/{period}".encode()


class CursorSigner:
    """Issues and opens cursors with one KMS HMAC key; `ttl_seconds` is how long an issued cursor stays valid."""

    def __init__(self, kms, key_arn: str, ttl_seconds: int, *, clock: Callable[[], float] | None = None):
        if ttl_seconds > KEY_PERIOD_SECONDS:
            raise ValueError(f"cursor TTL {ttl_seconds} s exceeds the key period of {KEY_PERIOD_SECONDS} s")
        self.kms, self.key_arn, self.ttl_seconds = kms, key_arn, ttl_seconds
        self.clock = clock or (lambda: time.time())  # late-bound, so a test can move time

    def _subkey(self, period: int) -> bytes:
        """The period's signing subkey: one GenerateMac the first time this container needs it, then memory."""
        keys = _subkeys.setdefault(self.key_arn, {})
        if period not in keys:
            mac = self.kms.generate_mac(KeyId=self.key_arn, Message=subkey_label(period), MacAlgorithm=MAC_ALGORITHM)
            current = self._period()
            for old in [p for p in keys if p - current not in ACCEPTED_PERIOD_OFFSETS]:
                del keys[old]  # never more than three subkeys in memory
            keys[period] = mac["Mac"]
        return keys[period]

    def _period(self) -> int:
        return int(self.clock()) // KEY_PERIOD_SECONDS

    def issue(self, binding: dict, after_ts: int | str) -> str:
        """A cursor that resumes after `after_ts` for exactly the listing `binding` describes."""
        now = int(self.clock())
        period = now // KEY_PERIOD_SECONDS
        payload = json.dumps(
            {"v": VERSION, **binding, "k": after_ts, "x": now + self.ttl_seconds, "p": period},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        mac = hmac.new(self._subkey(period), payload, hashlib.sha256).digest()
        return f"{_b64encode(payload)}.{_b64encode(mac)}"

    def open(self, token: str, binding: dict) -> int | str:
        """The `after_ts` inside a cursor issued by this API for `binding` and not expired; else a 400.

        Malformed cursors and cursors of a period outside ACCEPTED_PERIOD_OFFSETS are refused without any KMS
        request; a well-formed one is checked locally (a KMS request only for a period this container has not
        derived yet)."""
        if len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
            raise bad_request("bad_cursor", _MALFORMED)
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
            claimed = json.loads(payload)  # not yet authentic: only its period is read, to pick the subkey
        except (ValueError, binascii.Error):
            raise bad_request("bad_cursor", _MALFORMED) from None
        if not isinstance(claimed, dict):
            raise bad_request("bad_cursor", _MALFORMED)
        period = claimed.get("p")
        if len(mac) != MAC_BYTES or claimed.get("v") != VERSION or type(period) is not int:
            raise bad_request("bad_cursor", _MALFORMED)
        offset = period - self._period()
        if offset < min(ACCEPTED_PERIOD_OFFSETS):
            # Signed (if at all) more than a key period ago, so past any TTL: nothing to ask KMS.
            raise self._expired()
        if offset > max(ACCEPTED_PERIOD_OFFSETS):
            raise bad_request("bad_cursor", "cursor was altered or was not issued by this API")
        if not hmac.compare_digest(mac, hmac.new(self._subkey(period), payload, hashlib.sha256).digest()):
            raise bad_request("bad_cursor", "cursor was altered or was not issued by this API")
        fields = claimed  # authentic from here on: we wrote it
        if any(fields.get(k) != v for k, v in binding.items()):
            raise bad_request(
                "cursor_mismatch",
                "cursor belongs to another device or query; "
                "keep device, from, to and order as they were on the first page",
            )
        if self.clock() > fields["x"]:
            raise self._expired()
        return fields["k"]  # as issued: a ts (int) for readings, a device id (str) for GET /devices

    def _expired(self):
        return bad_request(
            "expired_cursor", f"cursor expired (cursors last {self.ttl_seconds} s); start again without it"
        )
