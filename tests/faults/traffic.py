"""Both ends of the traffic: "M-Pesa" pushing callbacks at the web process, and the merchant's receiver."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tests.helpers import STK_SUCCESS
from tests.support import Receiver, Reply


class FaultyReceiver(Receiver):
    """The merchant's app: answers after ``delay`` seconds, failing ``fail_ratio`` of requests with a 500.

    Remembers, per webhook-id, how often it answered 2xx (a second 2xx is a
    duplicate the merchant has to de-duplicate) and the payment ids it accepted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(
        self, *, fail_ratio: float = 0.0, delay: tuple[float, float] = (0.0, 0.0), seed: int = 0
    ) -> None:
        with self._lock:
            self.fail_ratio = fail_ratio
            self.delay = delay
            self.random = random.Random(seed)
            self.requests = []
            self._scripts = {}
            self.accepted_per_webhook: Counter[str] = Counter()
            self.first_accepted_at: dict[str, float] = {}

    def _record(self, path, headers, body):
        reply = super()._record(path, headers, body)
        with self._lock:
            if reply is self.default:  # not scripted: the fault policy decides
                if self.random.random() < self.fail_ratio:
                    return Reply(status=500, body=b"flaky")
                reply = Reply(status=reply.status, delay=self.random.uniform(*self.delay))
            if 200 <= reply.status <= 299:
                self.accepted_per_webhook[headers.get("webhook-id", "")] += 1
                checkout_id = json.loads(body)["Body"]["stkCallback"]["CheckoutRequestID"]
                self.first_accepted_at.setdefault(checkout_id, time.monotonic())
            return reply

    def fail(self, ratio: float) -> None:
        with self._lock:
            self.fail_ratio = ratio

    def duplicates(self) -> int:
        with self._lock:
            return sum(count - 1 for count in self.accepted_per_webhook.values())

    def accepted_ids(self) -> set[str]:
        with self._lock:
            return set(self.first_accepted_at)


def stk_callback(checkout_id: str, amount: int | None) -> bytes:
    """An STK result; ``amount=None``: a cancelled payment (no metadata), which payment rules make urgent."""
    payload = json.loads(json.dumps(STK_SUCCESS))
    callback = payload["Body"]["stkCallback"]
    callback["CheckoutRequestID"] = checkout_id
    callback["MerchantRequestID"] = f"m-{checkout_id}"
    if amount is None:
        callback.update(ResultCode=1032, ResultDesc="Request cancelled by user")
        del callback["CallbackMetadata"]
    else:
        callback["CallbackMetadata"]["Item"][0]["Value"] = amount
        callback["CallbackMetadata"]["Item"][1]["Value"] = f"R{checkout_id[-9:].upper()}"
    return json.dumps(payload).encode()


@dataclass
class Pusher:
    """Posts callbacks to the relay's inbound door from a few threads, each until it gets its 200.

    Only a 200 is a promise: a callback counts as accepted when one of its
    posts was answered 200. Anything else (a 503 while the database is down,
    a refused connection) is retried after a moment, as a sender should.
    """

    port: int
    path: str
    prefix: str
    seed: int = 0
    threads: int = 4
    accepted: set[str] = field(default_factory=set)
    accepted_at: dict[str, float] = field(default_factory=dict)
    answers: Counter = field(default_factory=Counter)
    started_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor | None = None
    _futures: list = field(default_factory=list)

    def start(self, count: int, *, per_second: float) -> None:
        """Send ``count`` callbacks, paced at ``per_second``, in the background."""
        self.started_at = time.monotonic()
        rng = random.Random(self.seed)
        self._pool = ThreadPoolExecutor(self.threads)
        for index in range(count):
            checkout_id = f"ws_CO_{self.prefix}_{index:05d}"
            body = stk_callback(checkout_id, amount=rng.choice([None, 10, 500, 2_000, 250_000]))
            at = self.started_at + index / per_second
            self._futures.append(self._pool.submit(self._send, checkout_id, body, at))

    def wait(self, timeout: float = 120) -> None:
        for future in self._futures:
            future.result(timeout=timeout)
        self._pool.shutdown()

    def _send(self, checkout_id: str, body: bytes, at: float) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = self._post(body)
            with self._lock:
                self.answers[status] += 1
                if status == 200:
                    self.accepted.add(checkout_id)
                    self.accepted_at[checkout_id] = time.monotonic()
                    return
            time.sleep(0.2)
        raise AssertionError(f"callback {checkout_id} was never accepted")

    def _post(self, body: bytes) -> int | str:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", self.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            reply = response.read()
            if response.status == 503:
                assert json.loads(reply)["error"] == "service_unavailable"
            return response.status
        except OSError as exc:
            return type(exc).__name__
        finally:
            connection.close()
