"""Property tests: detection and extraction never raise, whatever JSON they get.

The internal ``_detect``/``_extract`` are fuzzed too, so the public functions'
safety nets cannot hide a crash.
"""

import contextlib
import copy
import json
import re
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from delivery.priority import Priority, PriorityReason
from webhooks.mpesa import CallbackFacts, CallbackKind, detect_kind, extract_facts
from webhooks.mpesa.facts import _extract
from webhooks.mpesa.kinds import _detect
from webhooks.priorities import PAYMENT_KINDS, choose_priority

PAYLOADS = Path(__file__).resolve().parent / "payloads"
SAMPLES = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(PAYLOADS.glob("*.json"))}

INTERESTING_KEYS = sorted(
    {
        "Body", "stkCallback", "Result", "ResultCode", "ResultDesc", "ResultType", "ResultParameters",
        "ResultParameter", "ReferenceData", "ReferenceItem", "Key", "Name", "Value", "Item",
        "CallbackMetadata", "TransID", "MSISDN", "OrgAccountBalance", "Amount", "TransactionDate",
        "ConversationID", "QueueTimeoutURL",
    }
)  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**5000), max_value=10**5000)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.sampled_from(["0", "1032", "R000002", "SFC_IC0003", "20191219102115", "19.12.2019 11:45:50",
                       "254712345678", "2547 ***** 126", "timeout", "", "1.00", "a" * 64])
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(INTERESTING_KEYS) | st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(value, path, new):
    if not path:
        return new
    value = copy.deepcopy(value)
    target = value
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return value


ALL_PATHS = [(name, path) for name, sample in SAMPLES.items() for path in _paths(sample)]


def _check(payload):
    kind = _detect(payload)
    assert isinstance(kind, CallbackKind)
    facts = _extract(kind, payload)
    assert isinstance(facts, CallbackFacts)
    assert isinstance(facts.correlation_id, str)
    assert detect_kind(payload) is kind
    assert extract_facts(payload) == facts
    hash(facts.kind)
    return facts


COMMON = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(json_values)
def test_arbitrary_json_never_raises(payload):
    _check(payload)


@COMMON
@given(st.sampled_from(ALL_PATHS), json_values)
def test_samples_with_an_inner_value_replaced_never_raise(where, new):
    name, path = where
    _check(_replace(SAMPLES[name], path, new))


@COMMON
@given(st.sampled_from(ALL_PATHS), json_values, st.sampled_from(ALL_PATHS), json_values)
def test_samples_with_two_values_replaced_never_raise(first, new_first, second, new_second):
    name, path = first
    payload = _replace(SAMPLES[name], path, new_first)
    other_name, other_path = second
    if other_name == name:
        with contextlib.suppress(KeyError, IndexError, TypeError):  # the first replacement removed the path
            payload = _replace(payload, other_path, new_second)
    _check(payload)


@COMMON
@given(st.sampled_from(sorted(SAMPLES)), st.sampled_from(INTERESTING_KEYS), json_values)
def test_samples_with_a_key_added_at_any_depth_never_raise(name, key, new):
    payload = copy.deepcopy(SAMPLES[name])
    for _, path in (p for p in ALL_PATHS if p[0] == name):
        target = payload
        for step in path:
            target = target[step]
        if isinstance(target, dict):
            target[key] = new
            break
    _check(payload)


@COMMON
@given(st.from_regex(r"(\+?254|0)[17]\d{8}", fullmatch=True) | st.integers(2547_0000_0000, 2547_9999_9999))
def test_kenyan_msisdn_is_always_masked(msisdn):
    payload = copy.deepcopy(SAMPLES["c2b_confirmation.json"])
    payload["MSISDN"] = msisdn
    masked = extract_facts(payload).phone_number_masked
    digits = str(msisdn)
    assert digits not in masked
    assert "*****" in masked
    assert masked.endswith(digits[-3:])


@COMMON
@given(st.text(max_size=40))
def test_msisdn_text_never_keeps_six_consecutive_digits(msisdn):
    payload = copy.deepcopy(SAMPLES["c2b_confirmation.json"])
    payload["MSISDN"] = msisdn
    masked = extract_facts(payload).phone_number_masked
    if not masked.startswith("sha256:"):
        assert not re.search(r"[0-9]{6}", masked)


# --- no failed payment of any kind is ever LOW -----------------------------------------------

_ANY_PARAMETER = st.sampled_from(
    [
        "AccountBalance",
        "BOCompletedTime",
        "OriginalTransactionID",
        "ReceiptNo",
        "TransactionStatus",
        "FinalisedTime",
        "InitiatedTime",
        "ReasonType",
        "DebitPartyName",
        "CreditPartyName",
        "TransactionAmount",
        "TransactionReceipt",
        "B2CUtilityAccountAvailableFunds",
        "DebitPartyAffectedAccountBalance",
        "InitiatorAccountCurrentBalance",
        "Currency",
        "Amount",
        "TransCompletedTime",
        "DebitPartyCharges",
        "ReceiverPartyPublicName",
    ]
)
_URLS = st.sampled_from(
    [
        "https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit",
        "https://internalsandbox.safaricom.co.ke/mpesa/b2bresults/v1/submit",
        "https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit",
        "https://x.example/transactionstatus/result",
        "https://x.example/balance",
        "https://x.example/topup",
    ]
)
_FAILED_CODES = st.one_of(
    st.integers(min_value=1, max_value=99999),
    st.sampled_from(["1", "2001", "R000002", "SFC_IC0003", "4001", "1032"]),
)


@st.composite
def failed_callbacks(draw):
    code = draw(_FAILED_CODES)
    shape = draw(st.sampled_from(["result", "stk", "express"]))
    if shape == "stk":
        return {
            "Body": {"stkCallback": {"CheckoutRequestID": "ws_CO_1", "ResultCode": code, "ResultDesc": "x"}}
        }
    if shape == "express":
        return {"resultCode": str(code), "resultDesc": "failed", "requestId": "r-1", "amount": "71.0"}
    keys = draw(st.lists(_ANY_PARAMETER, max_size=4))
    result = {
        "ResultType": 0,
        "ResultCode": code,
        "ResultDesc": draw(st.sampled_from(["The initiator information is invalid.", "Failed", ""])),
        "ConversationID": "AG_1",
        "TransactionID": "OAK0000000",
        "ResultParameters": {"ResultParameter": [{"Key": key, "Value": "1"} for key in keys]},
        "ReferenceData": {"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": draw(_URLS)}},
    }
    return {"Result": result}


@given(failed_callbacks(), st.sampled_from(list(Priority)))
def test_no_failed_payment_of_any_kind_gets_low_priority(payload, default):
    # Given any failed callback, read as whatever kind
    facts = extract_facts(payload)
    assume(facts.is_success is False)
    decision = choose_priority(default=default, use_payment_rules=True, facts=facts)
    # Then no rule makes it LOW (only an endpoint whose own default is LOW can be); a failed
    # payment kind is URGENT and records no receipt
    assert decision.reason != PriorityReason.INFORMATIONAL
    assert decision.priority != Priority.LOW or default == Priority.LOW
    if facts.kind in PAYMENT_KINDS:
        assert decision.priority == Priority.URGENT
        assert facts.receipt_number == ""
