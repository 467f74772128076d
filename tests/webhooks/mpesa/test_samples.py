"""Every published reference payload reads as the right kind with the right facts.

The payloads are read from the copy in ``tests/webhooks/mpesa/payloads`` so the tests never
depend on ``shared/`` existing; when it does (``<repo>/../shared/mpesa``) the copy
is checked against it.
"""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from webhooks.mpesa import CallbackFacts, CallbackKind, detect_kind, extract_facts

PAYLOADS = Path(__file__).resolve().parent / "payloads"
UTC = dt.UTC


def load(name: str) -> object:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


EXPECTED: dict[str, CallbackFacts] = {
    "stk_callback_success.json": CallbackFacts(
        kind=CallbackKind.STK_CALLBACK,
        result_code="0",
        result_description="The service request is processed successfully.",
        is_success=True,
        amount=Decimal("1"),
        receipt_number="NLJ7RT61SV",
        checkout_request_id="ws_CO_191220191020363925",
        merchant_request_id="29115-34620561-1",
        transaction_time=dt.datetime(2019, 12, 19, 7, 21, 15, tzinfo=UTC),
        phone_number_masked="2547*****149",
    ),
    "stk_callback_cancelled.json": CallbackFacts(
        kind=CallbackKind.STK_CALLBACK,
        result_code="1032",
        result_description="Request cancelled by user",
        is_success=False,
        checkout_request_id="ws_CO_21072024125243250722943992",
        merchant_request_id="f1e2-4b95-a71d-b30d3cdbb7a7942864",
    ),
    "c2b_validation.json": CallbackFacts(
        kind=CallbackKind.C2B_VALIDATION,
        is_success=None,
        amount=Decimal("5.00"),
        receipt_number="",  # no money has moved: the TransID is not a receipt yet
        trans_id="RKL51ZDR4F",
        transaction_time=dt.datetime(2023, 11, 21, 9, 13, 25, tzinfo=UTC),
        account_reference="Sample Transaction",
        phone_number_masked="2547 ***** 126",
    ),
    # The documented confirmation (the old fixture was Safaricom's validation sample: see corpus/).
    "c2b_confirmation.json": CallbackFacts(
        kind=CallbackKind.C2B_CONFIRMATION,
        is_success=True,
        amount=Decimal("10.00"),
        receipt_number="LGR219G3EY",
        trans_id="LGR219G3EY",
        transaction_time=dt.datetime(2017, 7, 27, 7, 42, 47, tzinfo=UTC),
        account_reference="xyz",
        phone_number_masked="2547*****149",
    ),
    "b2c_result_success.json": CallbackFacts(
        kind=CallbackKind.B2C_RESULT,
        result_code="0",
        result_description="The service request is processed successfully.",
        is_success=True,
        amount=Decimal("10"),
        receipt_number="SG632NMUAB",
        trans_id="SG632NMUAB",
        conversation_id="AG_20240706_2010364430d9bbdaf872",
        originator_conversation_id="53e3-4aa8-9fe0-8fb5e4092cdd3533373",
        transaction_time=dt.datetime(2024, 7, 6, 19, 48, 52, tzinfo=UTC),
        phone_number_masked="2547*****645",
    ),
    "b2c_result_failure.json": CallbackFacts(
        kind=CallbackKind.B2C_RESULT,
        result_code="2001",
        result_description="The initiator information is invalid.",
        is_success=False,
        trans_id="NLJ0000000",
        conversation_id="AG_20191219_00006c6fddb15123addf",
        originator_conversation_id="29112-34801843-1",
    ),
    "transaction_status_result.json": CallbackFacts(
        kind=CallbackKind.TRANSACTION_STATUS_RESULT,
        result_code="0",
        result_description="The service request is processed successfully.",
        is_success=True,
        amount=Decimal("300"),
        receipt_number="MBN31H462N",
        trans_id="MBN0000000",
        conversation_id="AG_20180223_0000493344ae97d86f75",
        originator_conversation_id="3213-416199-2",
        transaction_time=dt.datetime(2018, 2, 23, 2, 41, 12, tzinfo=UTC),
        phone_number_masked="2547*****149",
    ),
    "account_balance_result.json": CallbackFacts(
        kind=CallbackKind.ACCOUNT_BALANCE_RESULT,
        result_code="0",
        result_description="The service request is processed successfully",
        is_success=True,
        trans_id="OA90000000",
        conversation_id="AG_20200206_00005e091a8ec6b9eac5",
        originator_conversation_id="16917-22577599-3",
        transaction_time=dt.datetime(2020, 1, 9, 9, 57, 10, tzinfo=UTC),
    ),
    "reversal_result.json": CallbackFacts(
        kind=CallbackKind.REVERSAL_RESULT,
        result_code="0",
        result_description="The service request is processed successfully.",
        is_success=True,
        amount=Decimal("1"),
        receipt_number="SKE52PAWR9",
        trans_id="SKE52PAWR9",
        conversation_id="AG_20211114_201018edbbf9f1582eaa",
        originator_conversation_id="dad6-4c34-8787-c8cb963a496d1268232",
        transaction_time=dt.datetime(2021, 11, 14, 10, 27, 11, tzinfo=UTC),
        phone_number_masked="2547*****645",
    ),
    "b2b_result.json": CallbackFacts(
        kind=CallbackKind.B2B_RESULT,
        result_code="0",
        result_description="The service request is processed successfully",
        is_success=True,
        amount=Decimal("190.00"),
        receipt_number="QKA81LK5CY",
        trans_id="QKA81LK5CY",
        conversation_id="12345677dfdf89099B3",
        originator_conversation_id="626f6ddf-ab37-4650-b882-b1de92ec9aa4",
        transaction_time=dt.datetime(2022, 11, 10, 8, 7, 17, tzinfo=UTC),
        account_reference="19008",
    ),
}

CORRELATION = {
    "stk_callback_success.json": "ws_CO_191220191020363925",
    "stk_callback_cancelled.json": "ws_CO_21072024125243250722943992",
    "c2b_validation.json": "RKL51ZDR4F",
    "c2b_confirmation.json": "LGR219G3EY",
    "b2c_result_success.json": "AG_20240706_2010364430d9bbdaf872",
    "b2c_result_failure.json": "AG_20191219_00006c6fddb15123addf",
    "transaction_status_result.json": "AG_20180223_0000493344ae97d86f75",
    "account_balance_result.json": "AG_20200206_00005e091a8ec6b9eac5",
    "reversal_result.json": "AG_20211114_201018edbbf9f1582eaa",
    "b2b_result.json": "12345677dfdf89099B3",
}


def test_every_payload_file_has_an_expectation():
    assert sorted(p.name for p in PAYLOADS.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_kind(name):
    assert detect_kind(load(name)) is EXPECTED[name].kind


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_facts(name):
    assert extract_facts(load(name)) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_correlation_id(name):
    assert extract_facts(load(name)).correlation_id == CORRELATION[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_times_are_aware(name):
    moment = extract_facts(load(name)).transaction_time
    assert moment is None or moment.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_raw_phone_number_survives(name):
    facts = extract_facts(load(name))
    for raw in ("254708374149", "254705912645"):
        assert raw not in repr(facts)


def test_eat_conversion_of_stk_transaction_date():
    moment = extract_facts(load("stk_callback_success.json")).transaction_time
    assert moment.astimezone(dt.timezone(dt.timedelta(hours=3))).replace(tzinfo=None) == dt.datetime(
        2019, 12, 19, 10, 21, 15
    )


def test_kind_values_are_exact():
    assert [kind.value for kind in CallbackKind] == [
        "stk_callback",
        "c2b_validation",
        "c2b_confirmation",
        "b2c_result",
        "b2b_result",
        "b2b_express_checkout",
        "b2c_account_topup",
        "reversal_result",
        "transaction_status_result",
        "account_balance_result",
        "queue_timeout",
        "unknown",
    ]
    assert CallbackKind("stk_callback") == "stk_callback"
    assert isinstance(CallbackKind.UNKNOWN, str)
    assert str(CallbackKind.B2C_RESULT) == f"{CallbackKind.B2C_RESULT}" == "b2c_result"


def test_facts_are_frozen():
    facts = extract_facts(load("c2b_confirmation.json"))
    with pytest.raises(AttributeError):
        facts.amount = Decimal("0")  # type: ignore[misc]
