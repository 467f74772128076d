"""Real-traffic quirks of result callbacks and C2B notices (shared/mpesa/README.md)."""

import copy
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from webhooks.mpesa import CallbackKind, extract_facts

PAYLOADS = Path(__file__).resolve().parent / "payloads"
HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def load(name: str) -> dict:
    return copy.deepcopy(json.loads((PAYLOADS / name).read_text(encoding="utf-8")))


def result(name: str, **changes) -> dict:
    payload = load(name)
    payload["Result"].update(changes)
    return payload


# --- result parameters and reference data ---------------------------------------------------------


def test_single_object_result_parameter():
    payload = result(
        "b2c_result_success.json",
        ResultParameters={"ResultParameter": {"Key": "TransactionReceipt", "Value": "ONLYONE"}},
    )
    facts = extract_facts(payload)
    assert facts.kind is CallbackKind.B2C_RESULT
    assert facts.receipt_number == "ONLYONE"


def test_list_reference_item_and_single_object_reference_item():
    payload = load("b2b_result.json")
    payload["Result"]["ReferenceData"]["ReferenceItem"] = {"Key": "BillReferenceNumber", "Value": "A-1"}
    facts = extract_facts(payload)
    assert facts.kind is CallbackKind.B2B_RESULT
    assert facts.account_reference == "A-1"


def test_repeated_keys_take_first_non_empty():
    payload = result(
        "transaction_status_result.json",
        ResultParameters={
            "ResultParameter": [
                {"Key": "ReceiptNo"},
                {"Key": "ReceiptNo", "Value": ""},
                {"Key": "ReceiptNo", "Value": "REAL123"},
                {"Key": "ReceiptNo", "Value": "LATER456"},
                {"Key": "Amount", "Value": "300"},
                {"Key": "Amount", "Value": "999"},
            ]
        },
    )
    facts = extract_facts(payload)
    assert facts.kind is CallbackKind.TRANSACTION_STATUS_RESULT
    assert facts.receipt_number == "REAL123"
    assert facts.amount == Decimal(300)


def test_transaction_status_phone_from_second_debit_party_name():
    facts = extract_facts(load("transaction_status_result.json"))
    assert facts.phone_number_masked == "2547*****149"
    assert "John" not in facts.phone_number_masked


def test_party_name_shortcode_is_not_a_phone():
    assert extract_facts(load("b2b_result.json")).phone_number_masked == ""


def test_b2c_numeric_and_string_amounts():
    for value, amount in ((10, "10"), ("10.00", "10.00"), (10.5, "10.5")):
        payload = load("b2c_result_success.json")
        payload["Result"]["ResultParameters"]["ResultParameter"][0]["Value"] = value
        assert extract_facts(payload).amount == Decimal(amount)


def test_reversal_numeric_completed_time():
    facts = extract_facts(load("reversal_result.json"))
    assert facts.transaction_time == dt.datetime(2021, 11, 14, 10, 27, 11, tzinfo=dt.UTC)


def test_b2c_dotted_completed_time():
    facts = extract_facts(load("b2c_result_success.json"))
    assert (
        facts.transaction_time.astimezone(dt.timezone(dt.timedelta(hours=3))).strftime("%d.%m.%Y %H:%M:%S")
        == "06.07.2024 22:48:52"
    )


@pytest.mark.parametrize(
    "parameters",
    [
        None,
        "",
        7,
        [],
        {},
        {"ResultParameter": None},
        {"ResultParameter": "x"},
        {"ResultParameter": [None, 3]},
    ],
)
def test_odd_result_parameters(parameters):
    facts = extract_facts(result("b2c_result_success.json", ResultParameters=parameters))
    assert facts.kind is CallbackKind.B2C_RESULT  # no markers left: QueueTimeoutURL hint / default
    assert facts.correlation_id == "AG_20240706_2010364430d9bbdaf872"
    assert facts.amount is None


def test_bare_list_of_result_parameters_is_read():
    params = load("reversal_result.json")["Result"]["ResultParameters"]["ResultParameter"]
    facts = extract_facts(result("reversal_result.json", ResultParameters=params))
    assert facts.kind is CallbackKind.REVERSAL_RESULT
    assert facts.amount == Decimal(1)


def test_parameter_keys_of_wrong_type_are_ignored():
    payload = result(
        "b2c_result_success.json",
        ResultParameters={"ResultParameter": [{"Key": 5, "Value": "x"}, {"Key": None}, {"Value": "y"}]},
    )
    assert extract_facts(payload).kind is CallbackKind.B2C_RESULT


def test_originator_conversation_id_fallback():
    payload = result("b2c_result_failure.json", ConversationID=None)
    facts = extract_facts(payload)
    assert facts.conversation_id == ""
    assert facts.correlation_id == "29112-34801843-1"


def test_numeric_ids_become_text():
    payload = result("b2c_result_failure.json", ConversationID=12345, OriginatorConversationID=6.5)
    facts = extract_facts(payload)
    assert facts.conversation_id == "12345"
    assert facts.originator_conversation_id == "6.5"


# --- C2B ---------------------------------------------------------------------------------------------


def test_c2b_hashed_msisdn():
    payload = load("c2b_confirmation.json")
    payload["MSISDN"] = HASH
    assert extract_facts(payload).phone_number_masked == "sha256:9f86d081884c…"
    payload["MSISDN"] = HASH.upper()
    assert extract_facts(payload).phone_number_masked == "sha256:9f86d081884c…"


@pytest.mark.parametrize(
    ("msisdn", "masked"),
    [
        ("254712345678", "2547*****678"),
        (254712345678, "2547*****678"),
        ("0712345678", "07*****678"),
        ("+254712345678", "+2547*****678"),
        ("2547 ***** 126", "2547 ***** 126"),
        ("2547*****126", "2547*****126"),
        ("*254712345678", "*2547*****678"),
        ("15551234567", "1555****567"),
        ("", ""),
        (None, ""),
        ([], ""),
    ],
)
def test_c2b_msisdn_masking(msisdn, masked):
    payload = load("c2b_confirmation.json")
    payload["MSISDN"] = msisdn
    assert extract_facts(payload).phone_number_masked == masked


def test_c2b_numeric_fields():
    payload = load("c2b_confirmation.json")
    payload.update(TransAmount=5, TransTime=20231121121325, BillRefNumber=42, TransID=None)
    facts = extract_facts(payload)
    assert facts.amount == Decimal(5)
    assert facts.transaction_time == dt.datetime(2023, 11, 21, 9, 13, 25, tzinfo=dt.UTC)
    assert facts.account_reference == "42"
    assert facts.correlation_id == ""


def test_c2b_amount_garbage_keeps_the_rest():
    payload = load("c2b_confirmation.json")
    payload["TransAmount"] = {"value": 5}
    facts = extract_facts(payload)
    assert facts.kind is CallbackKind.C2B_CONFIRMATION
    assert facts.amount is None
    assert facts.trans_id == "LGR219G3EY"
