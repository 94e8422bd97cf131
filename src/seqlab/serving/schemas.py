"""What the server's endpoints take and return (pydantic models: validation, and the OpenAPI schema at /docs).

Bounds that never change live here (a temperature above 10 or a top_p of 0 is never meant); the ones an
operator sets (how many inputs, how long a text or a generation) are :class:`ServeLimits`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ServeLimits(BaseModel):
    """Per-request limits: a request over one gets a 422 saying which limit and what to send instead."""

    model_config = ConfigDict(extra="forbid")

    max_items: int = Field(64, ge=1, description="inputs per predict request")
    max_chars: int = Field(1000, ge=1, description="characters per input text or prompt")
    max_length: int = Field(2000, ge=1, description="characters per generated text")
    max_beam: int = Field(16, ge=1, description="widest beam a seq2seq request may ask for")


class Strict(BaseModel):
    """A request body: unknown fields are an error naming them (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid")


class PredictRequest(Strict):
    """A batch of texts for one model."""

    inputs: list[str] = Field(min_length=1, description="texts to run, one result each (a POS tagger reads "
                                                         "words separated by spaces)",
                              examples=[["这本书写得很好", "质量太差了"]])
    beam: int | None = Field(None, ge=1, description="seq2seq: return the BEAM best outputs with their scores "
                                                     "(default: the best of the bundle's beam search)")
    attention: bool = Field(False, description="seq2seq: also return the best output's attention weights")


class GenerateRequest(Strict):
    """How to generate one text, streamed back as it is written."""

    prompt: str = Field("", description="text to continue (empty: a new text from the start)")
    max_length: int = Field(200, ge=1, description="characters to generate at most (fewer if the text ends)")
    temperature: float = Field(0.8, ge=0, le=10, description="0: always the likeliest character")
    top_k: int = Field(0, ge=0, description="draw from the K likeliest characters only (0: all)")
    top_p: float = Field(1.0, gt=0, le=1, description="draw from the likeliest characters holding P of the "
                                                      "probability (1: all)")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="the same seed repeats a text")
    condition: str | None = Field(None, description="a conditioned model: what to generate from, e.g. pos")


class PredictResponse(BaseModel):
    """One result per input, in order, and what produced them."""

    task: str
    run: str | None
    provider: str
    precision: str
    results: list[dict[str, Any]]


class ModelsResponse(BaseModel):
    """Every served model."""

    models: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    """A request the server refused, and why."""

    detail: str | list[dict[str, Any]] = Field(description="what to change: a sentence, or one entry per field "
                                                           "when the body does not match the schema")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "the body is not JSON encoded as UTF-8"},
    404: {"model": ErrorResponse, "description": "no model serves this task, or it has no such endpoint"},
    413: {"model": ErrorResponse, "description": "the body is far larger than the limits allow"},
    422: {"model": ErrorResponse, "description": "a field is missing, of the wrong type, or over a limit"},
}
"""The refusals every predict and generate request may get (so the OpenAPI schema documents them)."""
