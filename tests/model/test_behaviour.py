"""Behaviour of the sentiment model a bundle serves (trained by the tiny end-to-end pipeline run).

Minimum functionality, invariance and directional expectations in the style of CheckList
(Ribeiro et al., 2020), run on the int8 model exactly as `seqlab predict` serves it.
"""

from pathlib import Path

import pytest

from seqlab.inference.bundle import ClassifierBundle

pytestmark = pytest.mark.e2e

POSITIVE = ["这本书写得很好", "质量不错，非常满意", "酒店服务很好，房间干净，下次还来"]
NEGATIVE = ["质量太差，非常失望", "服务态度很差，再也不来了", "太差了，不推荐，浪费钱"]
COMPLAINT = "，但是质量太差，非常失望"


@pytest.fixture(scope="module")
def model(project: Path) -> ClassifierBundle:
    return ClassifierBundle(project / "dist" / "sentiment", "cpu")


def _positive(model: ClassifierBundle, texts: list[str]) -> list[float]:
    return [p.probabilities["pos"] for p in model.predict(texts)]


def test_minimum_functionality_on_plain_reviews(model: ClassifierBundle) -> None:
    # Guards: a model (or a label mapping) that gets the plainest reviews wrong.
    labels = [p.label for p in model.predict(POSITIVE + NEGATIVE)]
    assert labels == ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)


def test_outer_whitespace_changes_nothing(model: ClassifierBundle) -> None:
    # Guards: serving-time text handling that differs from what training saw.
    assert _positive(model, [f"  {text}\n" for text in POSITIVE]) == _positive(model, POSITIVE)


def test_final_punctuation_keeps_the_label(model: ClassifierBundle) -> None:
    plain = [p.label for p in model.predict(POSITIVE + NEGATIVE)]
    assert [p.label for p in model.predict([f"{t}。" for t in POSITIVE + NEGATIVE])] == plain


def test_adding_a_complaint_lowers_the_positive_probability(model: ClassifierBundle) -> None:
    # Guards: a model that ignores what comes late in a review (e.g. truncation or pooling bugs).
    before = _positive(model, POSITIVE)
    after = _positive(model, [text + COMPLAINT for text in POSITIVE])
    assert all(a < b for a, b in zip(after, before, strict=True)), (before, after)
