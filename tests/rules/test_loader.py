"""Routing rule files: the shipped ones load and behave as their comments say, broken ones
are reported all at once as `file:line: message`, CEL conditions, and `rules check`."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from callcenter.domain.callers import CallerHistory, CallerProfile, CallerView
from callcenter.domain.calls import Call, CallState
from callcenter.domain.routing_context import rule_context, select_rule
from callcenter.domain.routing_rules import ConditionError, Prefer, RoutingRules
from callcenter.errors import RulesInvalid
from callcenter.rules.cel_condition import CelCondition
from callcenter.rules.loader import load_rules

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "routing_rules"
EXAMPLES = sorted((SHIPPED / "examples").glob("*.yaml"))
MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def line_of(text: str, marker: str) -> int:
    """The 1-based line of the only line containing `marker`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} is on lines {hits}"
    return hits[0]


def make_call(
    *,
    queue_hint: str | None = None,
    to: str = "+15559870000",
    attributes: dict[str, str | int | float | bool] | None = None,
    priority: int = 0,
) -> Call:
    return Call(
        id="c1",
        gateway_call_id="gw-c1",
        state=CallState.QUEUED,
        queue=queue_hint or "general",
        created_at=MONDAY_NOON,
        updated_at=MONDAY_NOON,
        last_event_at=MONDAY_NOON,
        from_="+15551230000",
        to=to,
        priority=priority,
        attributes=attributes or {},
        queue_hint=queue_hint,
    )


def make_caller(
    *,
    tier: str | None = None,
    tags: tuple[str, ...] = (),
    account: dict[str, str | int | float | bool] | None = None,
    sentiment_ewma: float | None = None,
    repeat: bool = False,
) -> CallerView:
    return CallerView(
        key="+15551230000",
        profile=CallerProfile(tier=tier, tags=list(tags), account=account or {}),
        history=CallerHistory(calls_total=4, sentiment_ewma=sentiment_ewma, last_agent="a7"),
        repeat_within_7d=repeat,
    )


# --- shipped rules ------------------------------------------------------------------------


def test_shipped_rules_load() -> None:
    rules = load_rules(SHIPPED)
    assert sorted(rules.queues) == ["billing", "general", "sales", "support"]
    assert [r.name for r in rules.rules] == [
        "unhappy-or-vip",
        "billing",
        "support",
        "sales",
        "default",
    ]
    assert rules.rules[-1].when is None
    assert all(r.when is not None for r in rules.rules[:-1])
    assert len(rules.version) == 12
    assert load_rules(SHIPPED).version == rules.version
    vip = rules.rules[0]
    assert (vip.queue, vip.priority, vip.prefer) == ("billing", 10, Prefer.LAST_AGENT)
    assert [s.after for s in vip.steps] == [0, 30, 90]
    assert vip.steps[2].also_queues == ("support",)
    assert rules.queues["billing"].overflow == "general"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_each_example_loads_on_its_own(example: Path) -> None:
    rules = load_rules(example)
    assert rules.rules[-1].when is None
    assert rules.rules


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"business-hours.yaml", "spanish-line.yaml"}


def choose(rules: RoutingRules, call: Call, caller: CallerView | None, now: datetime) -> str:
    rule, match = select_rule(rules, rule_context(call, caller, now))
    assert match.errors == []
    return rule.name


@pytest.mark.parametrize(
    ("call", "caller", "expected"),
    [
        pytest.param(make_call(), make_caller(tier="vip"), "unhappy-or-vip", id="vip"),
        pytest.param(make_call(), make_caller(sentiment_ewma=-0.5), "unhappy-or-vip", id="unhappy"),
        pytest.param(make_call(), make_caller(repeat=True), "unhappy-or-vip", id="repeat"),
        pytest.param(make_call(), make_caller(sentiment_ewma=-0.3), "default", id="mildly-sad"),
        pytest.param(make_call(queue_hint="billing"), None, "billing", id="billing-hint"),
        pytest.param(make_call(attributes={"ivr": "1"}), None, "billing", id="ivr-1"),
        pytest.param(make_call(attributes={"ivr": "2"}), None, "support", id="ivr-2"),
        pytest.param(make_call(queue_hint="sales"), make_caller(), "sales", id="sales-hint"),
        pytest.param(make_call(attributes={"ivr": 3}), None, "default", id="ivr-int-no-match"),
        pytest.param(make_call(), None, "default", id="unknown-caller"),
    ],
)
def test_shipped_rules_route_as_documented(
    call: Call, caller: CallerView | None, expected: str
) -> None:
    assert choose(load_rules(SHIPPED), call, caller, MONDAY_NOON) == expected


@pytest.mark.parametrize(
    ("now", "caller", "expected"),
    [
        (datetime(2026, 1, 5, 12, 0, tzinfo=UTC), None, "default"),
        (datetime(2026, 1, 5, 7, 59, tzinfo=UTC), None, "after-hours"),
        (datetime(2026, 1, 5, 8, 0, tzinfo=UTC), None, "default"),
        (datetime(2026, 1, 5, 18, 0, tzinfo=UTC), None, "after-hours"),
        (datetime(2026, 1, 4, 12, 0, tzinfo=UTC), None, "after-hours"),  # a Sunday
        (datetime(2026, 1, 5, 3, 0, tzinfo=UTC), make_caller(tier="platinum"), "platinum"),
    ],
)
def test_business_hours_example(now: datetime, caller: CallerView | None, expected: str) -> None:
    rules = load_rules(SHIPPED / "examples" / "business-hours.yaml")
    assert choose(rules, make_call(), caller, now) == expected


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (make_call(to="+15559870001"), "spanish"),
        (make_call(attributes={"lang": "es"}), "spanish"),
        (make_call(attributes={"lang": "en"}), "default"),
        (make_call(), "default"),
    ],
)
def test_spanish_line_example(call: Call, expected: str) -> None:
    rules = load_rules(SHIPPED / "examples" / "spanish-line.yaml")
    assert choose(rules, call, None, MONDAY_NOON) == expected


# --- broken rule files --------------------------------------------------------------------

HEADER = """\
skills: [billing, spanish]
queues:
  billing:
    skills: [billing]
  general: {}
rules:
"""
VIP = """\
  - name: vip
    when: 'caller.tier == "vip"'
    queue: billing
"""
DEFAULT = """\
  - name: default
    queue: general
"""


@dataclass(frozen=True, slots=True)
class Broken:
    files: dict[str, str]
    expected: list[tuple[str, str, str]]  # (file, marker on the problem's line, message)


def one(text: str, marker: str, message: str) -> Broken:
    return Broken({"r.yaml": text}, [("r.yaml", marker, message)])


BROKEN = {
    "bad-yaml": one(
        HEADER + "  - name: vip: gold\n" + DEFAULT,
        "vip: gold",
        "bad YAML: mapping values are not allowed here",
    ),
    "bad-yaml-unclosed-flow": one(
        "skills: [billing\nqueues: {}\n" + "rules:\n" + DEFAULT,
        "queues: {}",
        "bad YAML: ",
    ),
    "unknown-top-level-field": one(
        "queues:\n  general: {}\nrulez:\n" + DEFAULT,
        "rulez:",
        "unknown field `rulez`",
    ),
    "unknown-rule-field": one(
        HEADER + VIP + "    prioritty: 10\n" + DEFAULT,
        "prioritty",
        "unknown field `prioritty`",
    ),
    "missing-rule-name": one(
        HEADER + "  - queue: billing  # nameless\n" + DEFAULT,
        "nameless",
        "missing required field `name`",
    ),
    "wrong-type-in-rule": one(
        HEADER + VIP + "    priority: high\n" + DEFAULT,
        "priority: high",
        "Expected `int`, got `str`",
    ),
    "wrong-value-in-step": one(
        HEADER + VIP + "    steps:\n      - {after: 0}\n      - {after: -5}\n" + DEFAULT,
        "after: -5",
        "Expected `float` >= 0.0",
    ),
    "wrong-type-in-queue": one(
        "queues:\n  billing:\n    skills: [billing]\n  general:\n    max_wait_seconds: soon\n"
        "rules:\n" + DEFAULT,
        "max_wait_seconds: soon",
        "Expected `float | null`, got `str`",
    ),
    "unknown-queue-field": one(
        "queues:\n  billing:\n    skills: [billing]\n    overflw: general\n  general: {}\n"
        "rules:\n" + DEFAULT,
        "overflw",
        "unknown field `overflw`",
    ),
    "cel-syntax-error": one(
        HEADER + "  - name: vip\n    when: 'caller.tier =='\n" + DEFAULT,
        "caller.tier ==",
        "bad condition: Failed to parse expression",
    ),
    "cel-fails-on-probe": one(
        HEADER + "  - name: vip\n    when: 'caller.nope == 1'\n" + DEFAULT,
        "caller.nope",
        "condition fails: no field 'nope'",
    ),
    "cel-not-bool": one(
        HEADER + "  - name: vip\n    when: 'caller.calls_total'\n" + DEFAULT,
        "caller.calls_total",
        "condition fails: evaluates to int, not a bool",
    ),
    "unknown-queue-in-rule": one(
        HEADER + "  - name: vip\n    when: 'caller.known'\n    queue: nowhere\n" + DEFAULT,
        "queue: nowhere",
        "queue 'nowhere' is not defined",
    ),
    "unknown-overflow": one(
        "queues:\n  billing:\n    overflow: nowhere\n  general: {}\nrules:\n" + DEFAULT,
        "overflow: nowhere",
        "overflow queue 'nowhere' is not defined",
    ),
    "self-overflow": one(
        "queues:\n  billing:\n    skills: [billing]\n    overflow: billing\n  general: {}\n"
        "rules:\n" + DEFAULT,
        "overflow: billing",
        "a queue cannot overflow into itself",
    ),
    "unknown-also-queue": one(
        HEADER
        + VIP
        + "    steps:\n      - {after: 0}\n      - after: 60\n        also_queues: [nowhere]\n"
        + DEFAULT,
        "also_queues",
        "queue 'nowhere' is not defined",
    ),
    "unknown-skill": one(
        HEADER
        + VIP
        + "    steps:\n      - after: 0\n        require:\n          billing: 3\n"
        + "          french: 2\n"
        + DEFAULT,
        "french",
        "unknown skill 'french' (not in any queue or skills list)",
    ),
    "steps-not-starting-at-0": one(
        HEADER + VIP + "    steps:  # late\n      - {after: 10}\n      - {after: 20}\n" + DEFAULT,
        "# late",
        "steps must start at after: 0 and be in increasing order",
    ),
    "steps-not-increasing": one(
        HEADER
        + VIP
        + "    steps:  # shuffled\n      - {after: 0}\n      - {after: 60}\n      - {after: 30}\n"
        + DEFAULT,
        "# shuffled",
        "steps must start at after: 0 and be in increasing order",
    ),
    "duplicate-rule-name": one(
        HEADER + VIP + "  - name: vip  # again\n    when: 'caller.known'\n" + DEFAULT,
        "# again",
        "rule 'vip' defined twice",
    ),
    "rule-after-default": one(
        HEADER + VIP + DEFAULT + "  - name: late\n    when: 'caller.known'\n",
        "name: late",
        "rule 'late' is unreachable: the default rule 'default' above matches every call",
    ),
    "same-condition-twice": one(
        HEADER + VIP + "  - name: again\n    when: ' caller.tier == \"vip\" '\n" + DEFAULT,
        "name: again",
        "rule 'again' is unreachable: rule 'vip' above has the same condition",
    ),
    "no-default-rule": one(
        HEADER + "  - name: first\n    when: 'caller.known'\n" + VIP,
        "name: vip",
        "no default rule: the last rule must have no `when`",
    ),
    "empty-file": one(
        "# nothing here yet\n",
        "nothing here yet",
        "no default rule: the last rule must have no `when`",
    ),
    "duplicate-queue-across-files": Broken(
        {
            "a.yaml": HEADER + VIP,
            "b.yaml": "queues:\n  support: {}\n  general: {}  # again\nrules:\n" + DEFAULT,
        },
        [("b.yaml", "# again", "queue 'general' defined twice")],
    ),
    "no-default-across-files": Broken(
        {"a.yaml": HEADER + "  - name: first\n    when: 'caller.known'\n" + VIP, "b.yaml": ""},
        [("a.yaml", "name: vip", "no default rule")],
    ),
    "errors-in-two-files": Broken(
        {
            "a.yaml": HEADER + VIP + "    prioritty: 1\n",
            "b.yaml": "queues:\n  sales: {}\nrules: oops\n",
        },
        [
            ("a.yaml", "prioritty", "unknown field `prioritty`"),
            ("b.yaml", "rules: oops", "Expected `array`, got `str`"),
        ],
    ),
}


def write(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")


def problems_of(location: Path) -> list[str]:
    with pytest.raises(RulesInvalid) as caught:
        load_rules(location)
    assert caught.value.problems
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def assert_reported(tmp_path: Path, case: Broken, problems: list[str]) -> None:
    unmatched = list(problems)
    for file, marker, message in case.expected:
        prefix = f"{tmp_path / file}:{line_of(case.files[file], marker)}: "
        hits = [p for p in unmatched if p.startswith(prefix) and message in p]
        assert hits, f"no problem {prefix}...{message} in {problems}"
        unmatched.remove(hits[0])
    assert unmatched == [], f"unexpected problems: {unmatched}"


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_rule_file_is_reported_at_its_line(tmp_path: Path, name: str) -> None:
    case = BROKEN[name]
    write(tmp_path, case.files)
    assert_reported(tmp_path, case, problems_of(tmp_path))


def test_single_file_is_checked_on_its_own(tmp_path: Path) -> None:
    case = BROKEN["unknown-queue-in-rule"]
    write(tmp_path, case.files)
    (tmp_path / "fine.yaml").write_text(HEADER + DEFAULT, encoding="utf-8")
    assert_reported(tmp_path, case, problems_of(tmp_path / "r.yaml"))
    assert load_rules(tmp_path / "fine.yaml").rules[0].name == "default"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        HEADER
        + "  - name: vip\n    when: 'caller.nope'\n    queue: nowhere\n"
        + "    steps:\n      - {after: 5, require: {french: 2}}\n"
        + "  - name: vip  # twin\n    when: 'caller.known'\n"
    )
    case = Broken(
        {"r.yaml": text},
        [
            ("r.yaml", "caller.nope", "condition fails: no field 'nope'"),
            ("r.yaml", "queue: nowhere", "queue 'nowhere' is not defined"),
            ("r.yaml", "french", "unknown skill 'french'"),
            ("r.yaml", "steps:", "steps must start at after: 0"),
            ("r.yaml", "# twin", "rule 'vip' defined twice"),
            ("r.yaml", "# twin", "no default rule"),
        ],
    )
    write(tmp_path, case.files)
    assert_reported(tmp_path, case, problems_of(tmp_path))


def test_condition_syntax_error_does_not_make_a_default_rule(tmp_path: Path) -> None:
    text = HEADER + "  - name: broken\n    when: 'caller.tier =='\n" + VIP + DEFAULT
    case = one(text, "caller.tier =='", "bad condition: Failed to parse expression")
    write(tmp_path, case.files)
    problems = problems_of(tmp_path)
    assert_reported(tmp_path, case, problems)  # and nothing "unreachable" after it
    assert "\n" not in problems[0]


def test_a_condition_with_a_macro_loads_and_matches(tmp_path: Path) -> None:
    tagged = (
        "  - name: tagged\n    when: 'caller.tags.exists(t, t == \"vip\")'\n    queue: billing\n"
    )
    write(tmp_path, {"r.yaml": HEADER + tagged + DEFAULT})
    rules = load_rules(tmp_path)
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    chosen = [
        select_rule(rules, rule_context(make_call(), make_caller(tags=tags), now))[0].name
        for tags in (("b2b", "vip"), ("b2b",))
    ]
    assert chosen == ["tagged", "default"]


def test_condition_syntax_error_in_the_last_rule_leaves_no_default(tmp_path: Path) -> None:
    text = HEADER + VIP + "  - name: broken\n    when: 'caller.tier =='\n"
    case = Broken(
        {"r.yaml": text},
        [
            ("r.yaml", "caller.tier =='", "bad condition: "),
            ("r.yaml", "name: broken", "no default rule"),
        ],
    )
    write(tmp_path, case.files)
    assert_reported(tmp_path, case, problems_of(tmp_path))


def test_empty_directory_has_no_rules(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("rules: []\n", encoding="utf-8")
    assert problems_of(tmp_path) == [f"{tmp_path}:0: no *.yaml rule files here"]


def test_yml_files_are_read_in_name_order(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "10-vip.yml": HEADER + VIP,
            "20-default.yaml": "rules:\n" + DEFAULT,
            "README.md": "rules: nonsense",
        },
    )
    rules = load_rules(tmp_path)
    assert [r.name for r in rules.rules] == ["vip", "default"]
    assert sorted(rules.queues) == ["billing", "general"]


# --- CEL conditions -----------------------------------------------------------------------


def context(
    call: Call | None = None, caller: CallerView | None = None, now: datetime = MONDAY_NOON
) -> dict[str, Any]:
    return rule_context(call or make_call(), caller, now)


@pytest.mark.parametrize(
    ("source", "ctx", "expected"),
    [
        ('caller.tier == "vip"', context(caller=make_caller(tier="vip")), True),
        ('caller.tier == "vip"', context(caller=make_caller(tier="gold")), False),
        ('caller.tier == "vip"', context(), False),
        ('"x" in caller.tags', context(caller=make_caller(tags=("y", "x"))), True),
        ('"x" in caller.tags', context(caller=make_caller(tags=("y",))), False),
        ('"x" in caller.tags', context(), False),
        (
            'has(call.attributes.ivr) && call.attributes.ivr == "1"',
            context(make_call(attributes={"ivr": "1"})),
            True,
        ),
        (
            'has(call.attributes.ivr) && call.attributes.ivr == "1"',
            context(make_call(attributes={"ivr": "2"})),
            False,
        ),
        ('has(call.attributes.ivr) && call.attributes.ivr == "1"', context(), False),
        ("now.getHours() < 8", context(now=datetime(2026, 1, 5, 7, 59, tzinfo=UTC)), True),
        ("now.getHours() < 8", context(now=datetime(2026, 1, 5, 8, 0, tzinfo=UTC)), False),
        ("now.getDayOfWeek() == 0", context(now=datetime(2026, 1, 4, 9, tzinfo=UTC)), True),
        ("now.getDayOfWeek() == 0", context(), False),
        (
            'caller.account.plan == "pro"',
            context(caller=make_caller(account={"plan": "pro"})),
            True,
        ),
        ("caller.sentiment_ewma < -0.4", context(caller=make_caller(sentiment_ewma=-0.5)), True),
        ("caller.sentiment_ewma < -0.4", context(), False),
        ("caller.known && caller.calls_total > 3", context(caller=make_caller()), True),
        ("caller.known", context(), False),
        ('call.queue == "billing"', context(make_call(queue_hint="billing")), True),
        ('queue == ""', context(), True),
        ("call.priority >= 5", context(make_call(priority=5)), True),
        ('caller.last_agent == "a7"', context(caller=make_caller()), True),
    ],
)
def test_cel_condition_over_rule_context(source: str, ctx: dict[str, Any], expected: bool) -> None:
    condition = CelCondition(source)
    assert condition.source == source
    assert condition.matches(ctx) is expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("caller.tier", "evaluates to str, not a bool"),
        ("caller.calls_total + 1", "evaluates to int, not a bool"),
        ("caller.tags", "not a bool"),
        ('call.attributes.ivr == "1"', "no field 'ivr'"),
        ("caller.nope == 1", "no field 'nope'"),
        ('caller.calls_total + "a" == 1', "No such overload"),
    ],
)
def test_cel_condition_that_cannot_give_a_bool_raises(source: str, message: str) -> None:
    condition = CelCondition(source)
    with pytest.raises(ConditionError, match=message):
        condition.matches(context(caller=make_caller()))


@pytest.mark.parametrize("source", ["caller.tier ==", "(caller.known", "caller..tier"])
def test_cel_syntax_error_is_a_one_line_value_error(source: str) -> None:
    with pytest.raises(ValueError, match="Syntax error") as caught:
        CelCondition(source)
    assert "\n" not in str(caught.value)


def test_cel_condition_repr_shows_the_source() -> None:
    assert repr(CelCondition("caller.known")) == "CelCondition('caller.known')"


def test_condition_sees_a_fresh_copy_of_the_context() -> None:
    ctx = context(make_call(attributes={"ivr": "1"}))
    before = msgspec.json.encode(ctx)
    assert CelCondition('call.attributes.ivr == "1"').matches(ctx) is True
    assert msgspec.json.encode(ctx) == before


# --- `callcenter rules check` -------------------------------------------------------------


def rules_check(*paths: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter", "rules", "check", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_rules_check_accepts_the_shipped_rules_and_examples() -> None:
    done = rules_check("routing_rules", *EXAMPLES)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + len(EXAMPLES)
    assert lines[0].startswith("routing_rules: ok, 4 queues, 5 rules, 3 alert rules (version ")
    assert all(": ok, " in line for line in lines)


def test_rules_check_defaults_to_routing_rules() -> None:
    done = rules_check()
    assert done.returncode == 0
    assert done.stdout.startswith("routing_rules: ok")


def test_rules_check_prints_problems_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = HEADER + VIP + "    prioritty: 10\n" + DEFAULT
    bad.write_text(text, encoding="utf-8")
    done = rules_check(bad)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{bad}:{line_of(text, 'prioritty')}: Object contains unknown field `prioritty`"
    ]


def test_rules_check_reports_each_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = HEADER + "  - name: vip\n    when: 'caller.nope == 1'\n    queue: nowhere\n" + DEFAULT
    bad.write_text(text, encoding="utf-8")
    done = rules_check("routing_rules", bad)
    assert done.returncode == 1
    assert done.stdout.startswith("routing_rules: ok")
    assert sorted(done.stderr.splitlines()) == sorted(
        [
            f"{bad}:{line_of(text, 'nope')}: condition fails: no field 'nope'",
            f"{bad}:{line_of(text, 'nowhere')}: queue 'nowhere' is not defined",
        ]
    )
