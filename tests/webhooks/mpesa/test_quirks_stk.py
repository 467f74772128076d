"""Real-traffic quirks of STK callbacks and result codes (shared/mpesa/README.md)."""

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from webhooks.mpesa import CallbackKind, detect_kind, extract_facts

PAYLOADS = Path(__file__).resolve().parent / "payloads"


def load(name: str) -> dict:
    return copy.deepcopy(json.loads((PAYLOADS / name).read_text(encoding="utf-8")))


def stk(**changes) -> dict:
    payload = load("stk_callback_success.json")
    payload["Body"]["stkCallback"].update(changes)
    return payload


def stk_items(*items) -> dict:
    return stk(CallbackMetadata={"Item": list(items)})


def result(name: str, **changes) -> dict:
    payload = load(name)
    payload["Result"].update(changes)
    return payload


# --- result codes: numbers or strings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "text", "success"),
    [
        (0, "0", True),
        ("0", "0", True),
        (0.0, "0", True),
        ("00", "00", True),
        (" 0 ", "0", True),
        (1032, "1032", False),
        ("1032", "1032", False),
        (1032.0, "1032", False),
        ("SFC_IC0003", "SFC_IC0003", False),
        (None, "", None),
        ("", "", None),
        (True, "", None),
        ([0], "", None),
        ({"code": 0}, "", None),
    ],
)
def test_stk_result_code_any_type(code, text, success):
    facts = extract_facts(stk(ResultCode=code))
    assert facts.kind is CallbackKind.STK_CALLBACK
    assert facts.result_code == text
    assert facts.is_success is success


@pytest.mark.parametrize(("code", "text"), [("R000002", "R000002"), ("R000001", "R000001")])
def test_reversal_codes_are_text(code, text):
    facts = extract_facts(result("reversal_result.json", ResultCode=code, ResultType="0"))
    assert facts.result_code == text
    assert facts.is_success is False


@pytest.mark.parametrize("result_type", [0, "0", 1, "1", None])
def test_result_type_does_not_change_kind(result_type):
    assert detect_kind(result("b2c_result_success.json", ResultType=result_type)) is CallbackKind.B2C_RESULT


def test_huge_integer_code_does_not_raise():
    facts = extract_facts(stk(ResultCode=10**5000))
    assert facts.result_code == ""
    assert facts.checkout_request_id == "ws_CO_191220191020363925"


# --- STK metadata ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "amount"),
    [(1, "1"), (1.0, "1"), (1.00, "1"), ("1.00", "1.00"), (" 1,000.50 ", "1000.50"), ("10", "10")],
)
def test_stk_amount_forms(value, amount):
    facts = extract_facts(stk_items({"Name": "Amount", "Value": value}))
    assert facts.amount == Decimal(amount)


@pytest.mark.parametrize("value", ["abc", "", None, True, [], {}, float("nan"), float("inf"), "1e5", "1.2.3"])
def test_stk_unreadable_amount_is_none(value):
    assert extract_facts(stk_items({"Name": "Amount", "Value": value})).amount is None


def test_stk_item_without_value_and_balance():
    payload = stk_items(
        {"Name": "Amount", "Value": 1},
        {"Name": "MpesaReceiptNumber", "Value": "RLA0R69NXM"},
        {"Name": "Balance"},
        {"Name": "TransactionDate", "Value": 20231210133416},
        {"Name": "PhoneNumber", "Value": 254768130105},
    )
    facts = extract_facts(payload)
    assert facts.amount == Decimal(1)
    assert facts.receipt_number == "RLA0R69NXM"
    assert facts.transaction_time == dt.datetime(2023, 12, 10, 10, 34, 16, tzinfo=dt.UTC)
    assert facts.phone_number_masked == "2547*****105"


def test_stk_single_object_item():
    facts = extract_facts(stk(CallbackMetadata={"Item": {"Name": "MpesaReceiptNumber", "Value": "ABC123"}}))
    assert facts.receipt_number == "ABC123"


@pytest.mark.parametrize(
    "metadata", [None, "", [], {}, {"Item": None}, {"Item": "x"}, {"Item": [1, "a", None]}]
)
def test_stk_odd_metadata(metadata):
    facts = extract_facts(stk(CallbackMetadata=metadata))
    assert facts.kind is CallbackKind.STK_CALLBACK
    assert facts.amount is None
    assert facts.receipt_number == ""
    assert facts.correlation_id == "ws_CO_191220191020363925"


def test_stk_repeated_item_takes_first_usable():
    facts = extract_facts(
        stk_items(
            {"Name": "MpesaReceiptNumber", "Value": ""},
            {"Name": "MpesaReceiptNumber", "Value": "FIRST"},
            {"Name": "MpesaReceiptNumber", "Value": "SECOND"},
            {"Name": "Amount", "Value": "n/a"},
            {"Name": "Amount", "Value": 5},
        )
    )
    assert facts.receipt_number == "FIRST"
    assert facts.amount == Decimal(5)


def test_stk_transaction_date_as_string_and_float():
    expected = dt.datetime(2019, 12, 19, 7, 21, 15, tzinfo=dt.UTC)
    for value in ("20191219102115", 20191219102115, 20191219102115.0, " 20191219102115 "):
        assert (
            extract_facts(stk_items({"Name": "TransactionDate", "Value": value})).transaction_time == expected
        )


@pytest.mark.parametrize("value", ["20191319102115", "2019121910211", 0, -1, "yesterday", "00010101010000"])
def test_stk_bad_transaction_date_is_none(value):
    assert extract_facts(stk_items({"Name": "TransactionDate", "Value": value})).transaction_time is None


def test_stk_account_reference_not_echoed():
    assert extract_facts(load("stk_callback_success.json")).account_reference == ""


def test_stk_timeout_result_stays_stk():
    facts = extract_facts(stk(ResultCode=1037, ResultDesc="DS timeout user cannot be reached"))
    assert facts.kind is CallbackKind.STK_CALLBACK
    assert facts.is_success is False


def test_stk_callback_not_an_object_is_still_stk():
    facts = extract_facts({"Body": {"stkCallback": None}})
    assert facts.kind is CallbackKind.STK_CALLBACK
    assert facts.correlation_id == ""
