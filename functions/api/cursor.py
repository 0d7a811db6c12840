"""Pagination cursors that cannot be forged, replayed on another device or query, or used after they expire.

A cursor is `base64url(payload) "." base64url(mac)`: the payload (JSON) holds where the last page stopped,
what the cursor is bound to (route, device, from, to, order) and when it expires (epoch seconds); the MAC
is an HMAC-SHA-256 computed by KMS with the API's HMAC key (GenerateMac) and checked by KMS (VerifyMac).
The secret never leaves KMS, so it is in no file, no Terraform state or output, and no log."""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable

from botocore.exceptions import ClientError

from api.http import bad_request

MAC_ALGORITHM = "HMAC_SHA_256"
MAC_BYTES = 32
MAX_CURSOR_CHARS = 1024  # far above a real cursor (~250); refuses junk before any work or KMS call
VERSION = 1
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorSigner:
    """Issues and opens cursors with one KMS HMAC key; `ttl_seconds` is how long an issued cursor stays valid."""

    def __init__(self, kms, key_arn: str, ttl_seconds: int, *, clock: Callable[[], float] | None = None):
        self.kms, self.key_arn, self.ttl_seconds = kms, key_arn, ttl_seconds
        self.clock = clock or (lambda: time.time())  # late-bound, so a test can move time

    def issue(self, binding: dict, after_ts: int | str) -> str:
        """A cursor that resumes after `after_ts` for exactly the listing `binding` describes (one GenerateMac)."""
        payload = json.dumps(
            {"v": VERSION, **binding, "k": after_ts, "x": int(self.clock()) + self.ttl_seconds},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        mac = self.kms.generate_mac(KeyId=self.key_arn, Message=payload, MacAlgorithm=MAC_ALGORITHM)["Mac"]
        return f"{_b64encode(payload)}.{_b64encode(mac)}"

    def open(self, token: str, binding: dict) -> int | str:
        """The `after_ts` inside a cursor issued by this API for `binding` and not expired; else a 400.

        Malformed cursors are refused without calling KMS; a well-formed one costs one VerifyMac."""
        if len(token) > MAX_CURSOR_CHARS or token.count(".") != 1:
            raise bad_request("bad_cursor", "cursor is malformed; pass next_cursor from the previous page unchanged")
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
        except (ValueError, binascii.Error):
            raise bad_request(
                "bad_cursor", "cursor is malformed; pass next_cursor from the previous page unchanged"
            ) from None
        if len(mac) != MAC_BYTES or not payload:
            raise bad_request("bad_cursor", "cursor is malformed; pass next_cursor from the previous page unchanged")
        try:
            self.kms.verify_mac(KeyId=self.key_arn, Message=payload, Mac=mac, MacAlgorithm=MAC_ALGORITHM)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "KMSInvalidMacException":
                raise bad_request("bad_cursor", "cursor was altered or was not issued by this API") from None
            raise
        fields = json.loads(payload)  # authentic: we wrote it
        if fields.get("v") != VERSION or any(fields.get(k) != v for k, v in binding.items()):
            raise bad_request(
                "cursor_mismatch",
                "cursor belongs to another device or query; "
                "keep device, from, to and order as they were on the first page",
            )
        if self.clock() > fields["x"]:
            raise bad_request(
                "expired_cursor", f"cursor expired (cursors last {self.ttl_seconds} s); start again without it"
            )
        return fields["k"]  # as issued: a ts (int) for readings, a device id (str) for GET /devices
