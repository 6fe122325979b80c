"""Ollama API parsers on the JSON shapes of Ollama's API documentation (docs/api.md)."""

from __future__ import annotations

import json

import pytest

from nornir_homehub.errors import OllamaParseError
from nornir_homehub.facts.ollama import (
    Placement,
    find_model,
    normalize_model,
    parse_error,
    parse_ps,
    parse_tags,
)

# From docs/api.md "List Local Models" (GET /api/tags).
TAGS = {
    "models": [
        {
            "name": "deepseek-r1:latest",
            "model": "deepseek-r1:latest",
            "modified_at": "2025-05-10T08:06:48.639712648-07:00",
            "size": 4683075271,
            "digest": "0a8c266910232fd3291e71e5ba1e058cc5af9d411192cf88b6d30e92b6e73163",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M",
            },
        },
        {
            "name": "qwen2.5-coder:14b",
            "model": "qwen2.5-coder:14b",
            "modified_at": "2025-10-01T10:00:00Z",
            "size": 8988124069,
            "digest": "3028237cc8c52fea4e77185d72cc997b2e90392791f7c82fe1c71995d56e642d",
            "details": {
                "format": "gguf",
                "parameter_size": "14.8B",
                "quantization_level": "Q4_K_M",
            },
        },
    ]
}


# From docs/api.md "List Running Models" (GET /api/ps), with size_vram varied per case.
def ps(size: int, size_vram: int, name: str = "mistral:latest") -> str:
    return json.dumps(
        {
            "models": [
                {
                    "name": name,
                    "model": name,
                    "size": size,
                    "digest": "2ae6f6dd7a3dd734790bbbf58b8909a606e0e7e97e94b7604e0aa7ae4490e6d8",
                    "details": {"format": "gguf", "parameter_size": "7.2B"},
                    "expires_at": "2024-06-04T14:38:31.83753-07:00",
                    "size_vram": size_vram,
                }
            ]
        }
    )


def test_parse_tags() -> None:
    models = parse_tags(json.dumps(TAGS))
    assert [(m.name, m.size, m.parameter_size, m.quantization_level) for m in models] == [
        ("deepseek-r1:latest", 4683075271, "7.6B", "Q4_K_M"),
        ("qwen2.5-coder:14b", 8988124069, "14.8B", "Q4_K_M"),
    ]


def test_parse_tags_empty() -> None:
    assert parse_tags('{"models": []}') == []


@pytest.mark.parametrize(
    ("size", "size_vram", "placement", "gpu_pct"),
    [
        (5137025024, 5137025024, Placement.GPU, 100.0),
        (5137025024, 0, Placement.CPU, 0.0),
        (5137025024, 2568512512, Placement.SPLIT, 50.0),
    ],
)
def test_parse_ps_placement(
    size: int, size_vram: int, placement: Placement, gpu_pct: float
) -> None:
    [m] = parse_ps(ps(size, size_vram))
    assert m.placement is placement
    assert m.to_dict()["placement"] == str(placement)
    assert m.gpu_pct == pytest.approx(gpu_pct)
    assert m.expires_at.startswith("2024-06-04")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<html>502</html>", "not JSON"),
        ('{"error": "x"}', 'no "models" list'),
        ('{"models": [{"size": 1}]}', "without a name"),
    ],
)
def test_parse_rejects_other_answers(text: str, message: str) -> None:
    with pytest.raises(OllamaParseError, match=message):
        parse_ps(text)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("qwen2.5-coder:14b", "qwen2.5-coder:14b"),
        ("llama3", "llama3:latest"),
        ("registry.ollama.ai/library/llama3:8b", "llama3:8b"),
        ("hf.co/bartowski/Qwen2.5-Coder-14B-GGUF", "hf.co/bartowski/Qwen2.5-Coder-14B-GGUF:latest"),
        ("localhost:5000/llama3", "localhost:5000/llama3:latest"),
    ],
)
def test_normalize_model(name: str, canonical: str) -> None:
    assert normalize_model(name) == canonical


def test_find_model_matches_implicit_latest() -> None:
    models = parse_tags(json.dumps(TAGS))
    found = find_model(models, "deepseek-r1")
    assert found is not None
    assert found.name == "deepseek-r1:latest"
    assert find_model(models, "qwen2.5-coder:7b") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"error": "model \\"x\\" not found, try pulling it first"}',
            'model "x" not found, try pulling it first',
        ),
        ("upstream down", "upstream down"),
    ],
)
def test_parse_error(text: str, message: str) -> None:
    assert parse_error(text) == message
