"""Documented Daraja samples gathered from public SDKs and docs (``payloads/corpus``) read right.

Each file's source and the facts it must give are in ``payloads/corpus/sources.json``.
Priorities are those of an endpoint with the payment rules on and the default
high-value threshold (KES 100,000).
"""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from delivery.priority import Priority
from webhooks.mpesa import CallbackKind, extract_facts
from webhooks.priorities import choose_priority

CORPUS = Path(__file__).resolve().parent / "payloads" / "corpus"
SOURCES = json.loads((CORPUS / "sources.json").read_text(encoding="utf-8"))


def facts_of(name: str):
    expect = SOURCES[name]["expect"]
    payload = json.loads((CORPUS / name).read_text(encoding="utf-8"))
    hint = expect.get("path")
    return extract_facts(payload, c2b_kind=CallbackKind(hint.replace("-", "_")) if hint else None)


def test_every_corpus_file_has_a_source_and_an_expectation():
    assert sorted(p.name for p in CORPUS.glob("*.json") if p.name != "sources.json") == sorted(SOURCES)
    assert all(entry["source"] for entry in SOURCES.values())


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_corpus_sample_reads_as_documented(name):
    expect = SOURCES[name]["expect"]
    # When a documented sample is read
    facts = facts_of(name)
    decision = choose_priority(
        default=Priority.NORMAL, use_payment_rules=True, high_value_threshold=Decimal("100000"), facts=facts
    )
    # Then kind, success, receipt, amount and priority are the documented ones
    assert facts.kind == expect["kind"]
    assert facts.is_success is expect["is_success"]
    assert facts.receipt_number == expect["receipt_number"]
    assert facts.amount == (Decimal(expect["amount"]) if expect["amount"] is not None else None)
    assert decision.priority.queue_name == expect["priority"]


def test_the_corpus_has_a_failure_of_every_payment_kind():
    failed_kinds = {
        entry["expect"]["kind"] for entry in SOURCES.values() if entry["expect"]["is_success"] is False
    }
    assert {"stk_callback", "b2b_result", "b2c_result", "b2b_express_checkout"} <= failed_kinds
