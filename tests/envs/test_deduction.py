"""The deduction environment: contract, knowledge base, grammar, rules, budget, progress, answerers."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import pytest

from palaestra import action
from palaestra.checker import check_env
from palaestra.envs.deduction import DeductionEnv
from palaestra.envs.deduction.answerer import parse_reply
from palaestra.envs.deduction.grammar import GRAMMAR, parse
from palaestra.envs.deduction.kb import CATEGORIES, Entity, knowledge_base, normalize
from palaestra.envs.deduction.predicates import _canonical, canonical_questions, holds, mask
from palaestra.envs.deduction.tasks import LEVELS, generate
from palaestra.envs.deduction.vocab import PHRASES
from palaestra.errors import ModelError
from palaestra.models.mock import MockModel
from palaestra.types import Message, Task

KB = knowledge_base()
ANIMALS = ["lion", "cat", "bat", "shark", "penguin", "ant", "crab"]
OBJECTS = ["fork", "smartphone", "airplane", "piano", "ring"]
CITIES = ["Tokyo", "Istanbul", "Chicago", "Sydney", "Reykjavik"]
PEOPLE = ["Albert Einstein", "Cleopatra", "Taylor Swift", "Usain Bolt", "Neil Armstrong"]


def entity(name: str) -> Entity:
    found = KB.find(name)
    assert found is not None, name
    return found


def hand_task(secret: str, budget: int = 5) -> Task:
    """22 candidates of all four categories."""
    chosen = sorted((entity(n) for n in [*ANIMALS, *OBJECTS, *CITIES, *PEOPLE]), key=lambda e: e.index)
    params = {
        "category": None,
        "candidates": [e.slug for e in chosen],
        "secret": entity(secret).slug,
        "budget": budget,
    }
    return Task(env="deduction", id="hand", split="test", difficulty=2, seed=0, params=params)


async def started(secret: str = "lion", budget: int = 5, **kwargs: Any) -> tuple[DeductionEnv, str]:
    env = DeductionEnv(**kwargs)
    obs = await env.reset(hand_task(secret, budget))
    return env, obs.messages[1].content


def ask(q: str) -> Message:
    return action("ask", question=q)


def answer(secret: str, question: str) -> bool:
    parsed = parse(question)
    assert parsed.key is not None, (question, parsed)
    return holds(parsed.key, entity(secret))


def test_contract_expert_and_random() -> None:
    report = check_env("deduction", n=30)
    assert report.ok, report.problems
    assert report.expert_success >= 0.95
    assert report.random_success <= 0.2
    assert report.expert_success - report.random_success >= 0.7
    for rec in report.episodes["expert"]:
        assert rec.invalid_actions == 0
        assert rec.steps[-1].info["questions"] <= rec.task.params["budget"]


def test_knowledge_base() -> None:
    counts = Counter(e.category for e in KB.entities)
    assert len(KB) >= 300 and set(counts) == set(CATEGORIES) and min(counts.values()) >= 90
    assert len({e.slug for e in KB.entities}) == len(KB)
    lion, fork, tokyo, einstein = (entity(n) for n in ("lion", "fork", "Tokyo", "Einstein"))
    assert lion.attrs["class"] == "mammal" and lion.attrs["diet"] == "carnivore" and lion.attrs["legs"] == 4
    assert fork.attrs["kind"] == "kitchenware" and fork.attrs["materials"] == ("metal",)
    assert tokyo.attrs["capital"] and tokyo.attrs["country"] == "Japan" and tokyo.attrs["population"] == 3
    assert einstein.name == "Albert Einstein" and einstein.attrs["born"] == 1879
    assert KB.find("The Albert-EINSTEIN") is einstein and KB.find("São Paulo") is KB.find("sao paulo")
    # No phrase of the grammar is also a name: "Is it a fish?" must stay a question, not a guess.
    assert not set(PHRASES) & set(KB.names)


def test_grammar_answers_from_the_knowledge_base() -> None:
    yes = [
        ("lion", "Is it a mammal?"),
        ("lion", "Does it have four legs?"),
        ("lion", "Is it bigger than a breadbox?"),
        ("lion", "Does it eat meat?"),
        ("lion", "Is it a wild animal?"),
        ("bat", "Can it fly?"),
        ("bat", "Does it have 2 legs?"),
        ("crab", "Does it have more than 8 legs?"),
        ("crab", "Does it live in the sea?"),
        ("penguin", "Does this animal live in water?"),
        ("fork", "Is it made of metal?"),
        ("fork", "Is it found in the kitchen?"),
        ("fork", "Is it smaller than a breadbox?"),
        ("smartphone", "Does it have a screen?"),
        ("smartphone", "Is it electric?"),
        ("airplane", "Is it a means of transport?"),
        ("airplane", "Is it bigger than a car?"),
        ("Tokyo", "Is it in Asia?"),
        ("Tokyo", "Is it the capital of Japan?"),
        ("Tokyo", "Does it have more than 10 million people?"),
        ("Tokyo", "Is it a port city?"),
        ("Istanbul", "Is it in Europe?"),
        ("Istanbul", "Is it in Asia?"),
        ("Sydney", "Is it in the southern hemisphere?"),
        ("Chicago", "Is it in the USA?"),
        ("Chicago", "Is it a city in North America?"),
        ("Chicago", "Does it have a population over 1 million?"),
        ("cat", "Is it kept as a pet?"),
        ("Albert Einstein", "Was he born before 1900?"),
        ("Albert Einstein", "Was he born in the 19th century?"),
        ("Albert Einstein", "Is he from Europe?"),
        ("Albert Einstein", "Did he win a Nobel Prize?"),
        ("Albert Einstein", "Is this person a scientist?"),
        ("Cleopatra", "Was she born before 50 BC?"),
        ("Cleopatra", "Was she a queen?"),
        ("Cleopatra", "Was she born in Africa?"),
        ("Taylor Swift", "Is she still alive?"),
        ("Usain Bolt", "Is he a runner?"),
        ("Neil Armstrong", "Is he an astronaut?"),
        ("Neil Armstrong", "Does his name start with the letter N?"),
    ]
    no = [
        ("lion", "Is it a pet?"),
        ("lion", "Is it in Africa?"),  # only cities are "in" a place (documented)
        ("lion", "Is it man-made?"),
        ("fork", "Is it a living thing?"),
        ("Tokyo", "Is it in Europe?"),
        ("Tokyo", "Does it have legs?"),
        ("Albert Einstein", "Is he alive?"),
        ("Albert Einstein", "Was he born in the 1960s?"),
        ("Cleopatra", "Was she a king?"),
        ("Taylor Swift", "Is it a man?"),
        ("fork", "Is it a plant?"),  # not in the knowledge base at all: always No
        ("Tokyo", "Is it a city in Europe?"),
    ]
    for secret, q in yes:
        assert answer(secret, q), (secret, q)
    for secret, q in no:
        assert not answer(secret, q), (secret, q)


def test_canonical_questions_round_trip_and_split() -> None:
    for text, key in _canonical():
        assert parse(text).key == key, text
    questions = canonical_questions()
    masks = [m for _, _, m in questions]
    assert len(questions) >= 200 and len(set(masks)) == len(masks)
    assert all(0 < m < KB.all_mask for m in masks)
    for form in ("Is it made of", "bigger/smaller than", "Was he/she born", "Does its name start"):
        assert form in GRAMMAR


@pytest.mark.parametrize(
    "question",
    ["Is it an animal or a plant?", "Does it have fur?", "Is he American?", "Why?", "", "Is it in Atlantis?"],
)
def test_questions_outside_the_grammar(question: str) -> None:
    parsed = parse(question)
    assert parsed.key is None and parsed.entity is None and parsed.error


async def test_invalid_question_is_free_and_lists_the_forms() -> None:
    env, _ = await started()
    step = await env.step(ask("Does it have fur?"))
    text = step.observation.text
    assert step.info["invalid_action"] and not step.terminated
    assert text.startswith("Error: I can't answer that question.")
    assert "This did not use a question." in text and "Is it made of <material>?" in text
    assert env.questions == 0 and step.info["questions"] == 0
    step = await env.step(ask("Is it a mammal?"))
    assert step.observation.text == "Yes. (4 questions left.)" and step.info["questions"] == 1


async def test_guesses() -> None:
    env, goal = await started("lion", budget=5)
    assert "Animals (7): ant, bat, cat, crab, lion, penguin, shark" in goal
    assert "People (5): Albert Einstein, Cleopatra, Neil Armstrong, Taylor Swift, Usain Bolt" in goal
    step = await env.step(action("guess", name="tiger"))  # in the knowledge base, not a candidate
    assert step.info["invalid_action"] and "'tiger' is not one of the candidates" in step.observation.text
    step = await env.step(action("guess", name="pengiun"))
    assert step.info["invalid_action"] and "Did you mean penguin?" in step.observation.text
    step = await env.step(action("guess", name="Cat"))
    assert (
        not step.info["invalid_action"] and step.observation.text == "No, it is not cat. (4 questions left.)"
    )
    assert step.info["wrong_guesses"] == 1 and step.info["questions"] == 1
    assert all(c.arguments.get("name") != "cat" for c in env.valid_actions())
    step = await env.step(ask("Is it a cat?"))  # asking for a candidate is a guess: already made
    assert step.info["invalid_action"] and "already guessed cat" in step.observation.text
    assert env.questions == 1
    step = await env.step(ask("Is it a lion?"))
    assert step.terminated and step.info["success"] and step.reward == 1.0 and step.info["progress"] == 1.0
    assert step.observation.text == "Yes! It is lion. You found it with 2 of 5 questions."
    after = await env.step(ask("Is it a mammal?"))
    assert after.info["invalid_action"] and "already over" in after.observation.text


async def test_budget_runs_out() -> None:
    env, goal = await started("Tokyo", budget=3)
    assert "You have 3 questions" in goal
    step = await env.step(ask("Is it a city?"))
    assert step.observation.text == "Yes. (2 questions left.)"
    step = await env.step(action("guess", name="Sydney"))
    assert step.observation.text == "No, it is not Sydney. (1 question left.)"
    listed = await env.step(action("list_candidates", category="city"))
    assert not listed.info["invalid_action"] and env.questions == 2
    assert listed.observation.text == (
        "Cities (5): Chicago, Istanbul, Reykjavik, Sydney, Tokyo\nWrong guesses so far: Sydney.\n1 question left."
    )
    step = await env.step(ask("Is it in Asia?"))
    assert step.terminated and not step.info["success"] and step.reward == 0.0
    assert step.observation.text == "Yes. That was your last question: the answer was Tokyo."


async def test_progress_counts_bits_removed() -> None:
    env, _ = await started("lion", budget=20)
    n = len(env.candidates)
    assert n == 22 and env.progress() == 0.0
    step = await env.step(ask("Is it an animal?"))  # 7 of 22 left
    assert step.info["progress"] == pytest.approx(1 - math.log2(7) / math.log2(22))
    await env.step(ask("Is it a mammal?"))  # lion, cat, bat
    await env.step(ask("Can it fly?"))  # lion, cat
    step = await env.step(action("guess", name="cat"))
    assert step.info["progress"] == pytest.approx(1.0)  # one candidate left, not yet named
    assert not step.info["success"]


@pytest.mark.parametrize("difficulty", sorted(LEVELS))
def test_levels(difficulty: int) -> None:
    level = LEVELS[difficulty]
    for seed in range(30):
        p = generate(random.Random(seed), difficulty)
        entities = [KB.by_slug[s] for s in p["candidates"]]
        assert len(entities) == len(set(entities)) == level.candidates and p["budget"] == level.budget
        assert p["secret"] in p["candidates"]
        cats = {e.category for e in entities}
        assert (cats == {p["category"]}) if level.one_category else (p["category"] is None and len(cats) == 4)
    assert generate(random.Random(3), difficulty) == generate(random.Random(3), difficulty)


def test_difficulty_scaling_and_distinct_tasks() -> None:
    levels = [LEVELS[d] for d in sorted(LEVELS)]
    assert [lv.candidates for lv in levels] == sorted(lv.candidates for lv in levels)
    assert levels[-1].budget < levels[0].budget == levels[1].budget == 20
    env = DeductionEnv()
    for d in sorted(LEVELS):
        test = env.tasks("test", 200, difficulty=d)
        assert len({t.id for t in test}) == 200
    train = {t.id for t in env.tasks("train", 100, difficulty=3)}
    assert not train & {t.id for t in env.tasks("test", 100, difficulty=3)}


async def test_first_observation_names_the_category_at_level_one() -> None:
    env = DeductionEnv()
    task = env.tasks("test", 1, seed=5, difficulty=1)[0]
    obs = await env.reset(task)
    goal = obs.messages[1].content
    cat = task.params["category"]
    assert goal.startswith("I am thinking of one of the 40 candidates below. It is a")
    assert f" {cat}." in goal.splitlines()[0] and "You have 20 questions" in goal
    assert "Is it bigger/smaller than" in obs.tools[0].description


async def test_same_actions_same_bytes() -> None:
    task = DeductionEnv().tasks("test", 1, seed=11, difficulty=3)[0]
    actions = [
        ask("Is it a person?"),
        ask("Does it have fur?"),
        action("guess", name="nobody"),
        ask("Is it a city?"),
    ]
    runs = []
    for _ in range(2):
        env = DeductionEnv()
        seen = [(await env.reset(task)).model_dump_json()]
        for a in actions:
            seen.append((await env.step(a)).model_dump_json())
        expert = env.expert()
        await expert.reset(task)
        obs = (await env.step(ask("Is it an object?"))).observation
        while not env.done:
            step = await env.step(await expert.act(obs))
            obs = step.observation
            seen.append(step.model_dump_json())
        runs.append("\n".join(seen))
    assert runs[0] == runs[1]


async def test_snapshot_restore() -> None:
    env, _ = await started("lion", budget=5)
    snap = env.snapshot()
    await env.step(action("guess", name="cat"))
    env.restore(snap)
    assert env.questions == 0 and env.wrong == [] and env.secret is KB.find("lion")
    step = await env.step(action("guess", name="lion"))
    assert step.info["success"]


def test_parse_reply() -> None:
    assert parse_reply("Yes.") == "yes"
    assert parse_reply("<think>is it yes or no? no...</think>\nYes, it is.") == "yes"
    assert parse_reply("The answer is no.") == "no"
    assert parse_reply("Not really") == "no"
    assert parse_reply("I cannot say yes or no to that.") == "unknown"
    assert parse_reply("Unknown") == "unknown"
    assert parse_reply("") == "unknown"


async def test_model_answerer_judges_free_form_questions() -> None:
    seen: list[list[Message]] = []

    def judge(messages: list[Message], tools: Any) -> str:
        seen.append(messages)
        return "Yes, it does." if "mane" in messages[-1].content else "Unknown"

    model = MockModel(judge)
    env, _ = await started("lion", budget=5, answerer=model)
    assert "in your own words" in env.tool_specs()[0].description
    step = await env.step(ask("Does it have a mane?"))
    assert step.observation.text == "Yes. (4 questions left.)" and not step.info["invalid_action"]
    assert "The secret is: lion (animal)" in seen[0][0].content and "diet: carnivore" in seen[0][0].content
    step = await env.step(ask("Is it nocturnal?"))
    assert step.observation.text == "I don't know. (3 questions left.)"
    step = await env.step(ask("Is it a mammal?"))  # in the grammar: answered from the knowledge base
    assert step.observation.text == "Yes. (2 questions left.)" and model.calls == 2
    step = await env.step(ask("Is it a lion?"))  # a guess never goes to the model
    assert step.info["success"] and model.calls == 2

    env, _ = await started("lion", budget=5, answerer=MockModel(["No"]), judge_all=True)
    step = await env.step(ask("Is it a mammal?"))
    assert step.observation.text == "No. (4 questions left.)"

    env, _ = await started("lion", budget=5, answerer=MockModel([{"error": "server down"}]))
    with pytest.raises(ModelError):
        await env.step(ask("Does it roar?"))
    assert env.questions == 0


def test_names_match_loosely() -> None:
    assert normalize("  J. K. Rowling ") == "j k rowling"
    assert KB.find("JK Rowling") is KB.find("j.k. rowling") is KB.find("J. K. Rowling")
    assert KB.find("the grizzly") is KB.find("brown bear")
    assert mask(("cat", "person")).bit_count() == sum(e.category == "person" for e in KB.entities)
