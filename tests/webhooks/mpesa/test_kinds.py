"""Kind detection heuristics: C2B validation vs confirmation, result kinds, queue timeouts, unknowns."""

import copy
import json
from pathlib import Path

import pytest

from webhooks.mpesa import CallbackKind, detect_kind, extract_facts

PAYLOADS = Path(__file__).resolve().parent / "payloads"
K = CallbackKind


def load(name: str) -> dict:
    return copy.deepcopy(json.loads((PAYLOADS / name).read_text(encoding="utf-8")))


def bare_result(**fields) -> dict:
    """A result notice with no ResultParameters and no ReferenceData."""
    base = {"ResultType": 0, "ResultCode": 1, "ConversationID": "AG_1", "OriginatorConversationID": "O-1"}
    return {"Result": {**base, **fields}}


# --- C2B validation vs confirmation ------------------------------------------------------------------


@pytest.mark.parametrize("balance", ["", "   ", None, {}, [], True])
def test_blank_org_account_balance_is_validation(balance):
    payload = load("c2b_confirmation.json")
    payload["OrgAccountBalance"] = balance
    assert detect_kind(payload) is K.C2B_VALIDATION


@pytest.mark.parametrize("balance", ["25.00", "0.00", 0, 25.5, "-3"])
def test_org_account_balance_value_is_confirmation(balance):
    payload = load("c2b_validation.json")
    payload["OrgAccountBalance"] = balance
    assert detect_kind(payload) is K.C2B_CONFIRMATION


def test_missing_org_account_balance_leans_to_confirmation():
    payload = load("c2b_validation.json")
    del payload["OrgAccountBalance"]
    assert detect_kind(payload) is K.C2B_CONFIRMATION


@pytest.mark.parametrize("key", ["TransactionType", "TransID", "BillRefNumber", "MSISDN"])
def test_any_single_c2b_marker_is_c2b(key):
    assert detect_kind({key: "x"}) is K.C2B_CONFIRMATION
    assert detect_kind({key: "x", "OrgAccountBalance": ""}) is K.C2B_VALIDATION


# --- result kinds ------------------------------------------------------------------------------------


def test_failed_result_without_parameters_falls_back_to_b2c():
    assert detect_kind(bare_result(ResultDesc="The initiator information is invalid.")) is K.B2C_RESULT


def test_reversal_failure_by_code():
    payload = bare_result(ResultCode="R000002", ResultDesc="The OriginalTransactionID is invalid.")
    assert detect_kind(payload) is K.REVERSAL_RESULT


def test_reversal_failure_by_description():
    payload = bare_result(ResultCode=1, ResultDesc="The transaction has already been reversed.")
    assert detect_kind(payload) is K.REVERSAL_RESULT


def test_a_failure_with_only_an_occasion_reads_as_a_payment_not_a_query():
    # Given a failed result whose only marker is an Occasion (B2C requests carry one too)
    payload = bare_result(
        ResultCode=2001,
        ResultDesc="The initiator information is invalid.",
        ReferenceData={"ReferenceItem": {"Key": "Occasion", "Value": "xf"}},
    )
    # Then it is read as a payment: informational kinds need a parameter only they carry
    assert detect_kind(payload) is K.B2C_RESULT


def test_safaricoms_b2b_failure_sample_is_a_b2b_payment_not_a_balance():
    # Given the documented B2B failure: BOCompletedTime alone, "b2b" only in the URL
    payload = bare_result(
        ResultCode=2001,
        ResultDesc="The initiator information is invalid.",
        ResultParameters={"ResultParameter": {"Key": "BOCompletedTime", "Value": 20200120164825}},
        ReferenceData={
            "ReferenceItem": {
                "Key": "QueueTimeoutURL",
                "Value": "https://internalsandbox.safaricom.co.ke/mpesa/b2bresults/v1/submit",
            }
        },
    )
    assert detect_kind(payload) is K.B2B_RESULT


@pytest.mark.parametrize(
    ("command", "kind"),
    [
        ("BusinessPayToBulk", K.B2C_ACCOUNT_TOPUP),
        ("BusinessPayBill", K.B2B_RESULT),
        ("BusinessBuyGoods", K.B2B_RESULT),
        ("SalaryPayment", K.B2C_RESULT),
        ("TransactionReversal", K.REVERSAL_RESULT),
        ("AccountBalance", K.ACCOUNT_BALANCE_RESULT),
    ],
)
def test_an_explicit_command_id_settles_the_kind(command, kind):
    payload = bare_result(ResultCode=0, CommandID=command)
    assert detect_kind(payload) is kind


def test_a_topup_word_in_the_url_turns_a_b2b_shaped_result_into_a_b2c_topup():
    payload = load("b2b_result.json")
    payload["Result"]["ReferenceData"]["ReferenceItem"][1]["Value"] = "https://x.example/b2c-topup/queue"
    assert detect_kind(payload) is K.B2C_ACCOUNT_TOPUP


def test_b2b_failure_with_bill_reference():
    payload = bare_result(
        ResultDesc="Insufficient funds",
        ReferenceData={"ReferenceItem": [{"Key": "BillReferenceNumber", "Value": "19008"}]},
    )
    assert detect_kind(payload) is K.B2B_RESULT
    assert extract_facts(payload).account_reference == "19008"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://internalsandbox.safaricom.co.ke/mpesa/b2cresults/v1/submit", K.B2C_RESULT),
        ("https://internalsandbox.safaricom.co.ke/mpesa/reversalresults/v1/submit", K.REVERSAL_RESULT),
        # URL words never make a result informational on their own: the payment reading is safer
        ("https://internalsandbox.safaricom.co.ke/mpesa/abresults/v1/submit", K.B2C_RESULT),
        ("https://example.com/hooks/b2b/timeout", K.B2B_RESULT),
        ("https://example.com/hooks/transactionstatus", K.B2C_RESULT),
        ("http://172.31.234.68:8888/Listener.php", K.B2C_RESULT),
    ],
)
def test_queue_timeout_url_hint_when_no_parameters(url, kind):
    payload = bare_result(ReferenceData={"ReferenceItem": {"Key": "QueueTimeoutURL", "Value": url}})
    assert detect_kind(payload) is kind


def test_parameters_outweigh_url_hint():
    payload = load("account_balance_result.json")
    payload["Result"]["ReferenceData"]["ReferenceItem"]["Value"] = "https://x.example/b2cresults"
    assert detect_kind(payload) is K.ACCOUNT_BALANCE_RESULT


@pytest.mark.parametrize(
    ("keys", "kind"),
    [
        (["AccountBalance"], K.ACCOUNT_BALANCE_RESULT),
        (["BOCompletedTime"], K.B2C_RESULT),  # shared by balance results and B2B failures
        (["AccountBalance", "BOCompletedTime"], K.ACCOUNT_BALANCE_RESULT),
        (["OriginalTransactionID", "Amount"], K.REVERSAL_RESULT),
        (["ReceiptNo"], K.TRANSACTION_STATUS_RESULT),
        (["DebitPartyName", "DebitPartyName", "TransactionStatus"], K.TRANSACTION_STATUS_RESULT),
        (["B2CRecipientIsRegisteredCustomer"], K.B2C_RESULT),
        (["B2CSomeFutureKey"], K.B2C_RESULT),
        (["TransactionAmount", "ReceiverPartyPublicName"], K.B2C_RESULT),
        (["DebitPartyAffectedAccountBalance", "ReceiverPartyPublicName"], K.B2B_RESULT),
        (["Amount", "TransCompletedTime", "DebitAccountBalance"], K.B2C_RESULT),
    ],
)
def test_parameter_markers(keys, kind):
    payload = bare_result(ResultCode=0, ResultParameters={"ResultParameter": [{"Key": key} for key in keys]})
    assert detect_kind(payload) is kind


# --- queue timeout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "desc",
    ["Request timeout", "The request timed out.", "Queue time out", "TIME-OUT", "SVC time_out in queue"],
)
def test_timeout_description_without_parameters_is_queue_timeout(desc):
    payload = bare_result(ResultCode="SVC200", ResultDesc=desc)
    facts = extract_facts(payload)
    assert facts.kind is K.QUEUE_TIMEOUT
    assert facts.is_success is None
    assert facts.result_code == "SVC200"
    assert facts.result_description == desc
    assert facts.correlation_id == "AG_1"


def test_timeout_notice_with_reference_data_is_still_a_timeout():
    payload = load("b2c_result_failure.json")
    payload["Result"].update(ResultCode=1, ResultDesc="The request timed out in the queue.")
    facts = extract_facts(payload)
    assert facts.kind is K.QUEUE_TIMEOUT
    assert facts.receipt_number == ""
    assert facts.amount is None
    assert facts.correlation_id == "AG_20191219_00006c6fddb15123addf"


def test_timeout_words_with_parameters_is_a_result():
    payload = load("b2c_result_success.json")
    payload["Result"]["ResultDesc"] = "Timeout"
    assert detect_kind(payload) is K.B2C_RESULT


def test_result_type_one_alone_is_not_a_timeout():
    assert detect_kind(bare_result(ResultType=1, ResultDesc="Failed")) is K.B2C_RESULT


def test_flat_timeout_notice():
    payload = {"ResultCode": "1", "ResultDesc": "Request time out", "OriginatorConversationID": "O-9"}
    facts = extract_facts(payload)
    assert facts.kind is K.QUEUE_TIMEOUT
    assert facts.correlation_id == "O-9"


def test_flat_result_without_timeout_words_is_unknown():
    assert detect_kind({"ResultCode": 0, "ResultDesc": "Accepted"}) is K.UNKNOWN


# --- unknown shapes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        0,
        1.5,
        True,
        "",
        '{"Body": {"stkCallback": {}}}',
        [],
        [load("stk_callback_success.json")],
        {},
        {"Body": None},
        {"Body": {"somethingElse": {}}},
        {"Body": "stkCallback"},
        {"Result": None},
        {"Result": [load("b2c_result_success.json")["Result"]]},
        {"Result": "ok"},
        {"requestId": "1", "errorCode": "500.001.1001", "errorMessage": "Service is currently unreachable"},
        {"ResultParameters": {"ResultParameter": [{"Key": "A", "Value": 1}]}, "ResultDesc": "timeout"},
    ],
)
def test_unknown_shapes(payload):
    assert detect_kind(payload) is K.UNKNOWN
    facts = extract_facts(payload)
    assert facts.kind is K.UNKNOWN
    assert facts.correlation_id == ""
    assert facts.is_success is None


def test_stk_wins_over_other_markers():
    payload = load("stk_callback_success.json")
    payload.update(TransID="X", Result={"ResultCode": 0})
    assert detect_kind(payload) is K.STK_CALLBACK


def test_result_wins_over_c2b_markers():
    payload = load("reversal_result.json")
    payload["TransID"] = "X"
    assert detect_kind(payload) is K.REVERSAL_RESULT
