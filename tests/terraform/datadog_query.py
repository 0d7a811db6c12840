"""A parser for the query of a Datadog metric monitor ("query alert"), enough to refuse what Datadog's API
would refuse in the monitors we generate, offline:

    query      := TIME_AGG "(" WINDOW ")" ":" expr COMPARATOR NUMBER
    expr       := term (("+" | "-") term)*
    term       := factor (("*" | "/") factor)*
    factor     := NUMBER | series | "(" expr ")"
    series     := SPACE_AGG ":" METRIC "{" scope "}" [ "by" "{" TAG_KEY ("," TAG_KEY)* "}" ] ( "." FUNCTION "()" )*
    scope      := "*" | tag ("," tag)*
    tag        := ["!"] TAG_KEY [":" TAG_VALUE]

    TIME_AGG, SPACE_AGG := avg | max | min | sum     WINDOW := last_<n>(m|h|d|w)     COMPARATOR := > | >= | < | <=
    FUNCTION := as_count | as_rate

e.g. `avg(last_5m):avg:aws.kinesis.get_records_iterator_age_milliseconds{streamname:s} > 60000`.
`parse` returns the parts; any other text raises QuerySyntaxError naming the position and what was expected."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

AGGREGATIONS = {"avg", "max", "min", "sum"}
FUNCTIONS = {"as_count", "as_rate"}
COMPARATORS = (">=", "<=", ">", "<")
# Our own cap, not Datadog's: no catalog monitor needs to look back further than a week.
WINDOW_MAX_MINUTES = 7 * 24 * 60
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}

_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+")
_TAG_KEY = re.compile(r"[a-z][a-z0-9_./-]*")
_TAG_VALUE = re.compile(r"[a-z0-9_./:-]+")


class QuerySyntaxError(ValueError):
    """The query is not a metric monitor query; the message says where and what was expected."""


@dataclass
class Series:
    space_aggregation: str
    metric: str
    tags: list[str]
    functions: list[str] = field(default_factory=list)


@dataclass
class Query:
    time_aggregation: str
    window_minutes: int
    series: list[Series]
    comparator: str
    threshold: float


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    # --- characters ------------------------------------------------------------------------------
    def fail(self, expected: str):
        found = self.text[self.pos : self.pos + 12] or "the end"
        raise QuerySyntaxError(f"at column {self.pos + 1}: expected {expected}, found {found!r} in {self.text!r}")

    def skip_ws(self):
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self, literal: str) -> bool:
        self.skip_ws()
        return self.text.startswith(literal, self.pos)

    def expect(self, literal: str, what: str | None = None):
        if not self.peek(literal):
            self.fail(what or repr(literal))
        self.pos += len(literal)

    def match(self, pattern: re.Pattern, what: str) -> str:
        self.skip_ws()
        m = pattern.match(self.text, self.pos)
        if not m:
            self.fail(what)
        self.pos = m.end()
        return m.group(0)

    # --- grammar ---------------------------------------------------------------------------------
    def aggregation(self, what: str) -> str:
        word = self.match(re.compile(r"[a-z]+"), what)
        if word not in AGGREGATIONS:
            self.pos -= len(word)
            self.fail(f"{what} ({', '.join(sorted(AGGREGATIONS))})")
        return word

    def query(self) -> Query:
        time_agg = self.aggregation("a time aggregation")
        self.expect("(")
        window = self.match(re.compile(r"last_(\d+)([mhdw])"), "a window like last_5m, last_1h, last_1d")
        n, unit = int(window[5:-1]), window[-1]
        minutes = n * _UNIT_MINUTES[unit]
        if n < 1 or minutes > WINDOW_MAX_MINUTES:
            self.pos -= len(window)
            self.fail(f"a window of 1 minute to {WINDOW_MAX_MINUTES // 1440} days")
        self.expect(")")
        self.expect(":")
        series: list[Series] = []
        self.expr(series)
        if not series:
            self.fail("at least one metric in the expression")
        self.skip_ws()
        comparator = next((c for c in COMPARATORS if self.text.startswith(c, self.pos)), None)
        if comparator is None:
            self.fail("a comparator (>, >=, <, <=)")
        self.pos += len(comparator)
        threshold = float(self.match(re.compile(r"-?\d+(\.\d+)?"), "a numeric threshold"))
        self.skip_ws()
        if self.pos != len(self.text):
            self.fail("the end of the query")
        return Query(time_agg, minutes, series, comparator, threshold)

    def expr(self, series: list[Series]):
        self.term(series)
        while self.peek("+") or self.peek("-"):
            self.pos += 1
            self.term(series)

    def term(self, series: list[Series]):
        self.factor(series)
        while self.peek("*") or self.peek("/"):
            self.pos += 1
            self.factor(series)

    def factor(self, series: list[Series]):
        self.skip_ws()
        if self.peek("("):
            self.pos += 1
            self.expr(series)
            self.expect(")")
        elif self.pos < len(self.text) and self.text[self.pos].isdigit():
            self.match(re.compile(r"\d+(\.\d+)?"), "a number")
        else:
            series.append(self.series())

    def series(self) -> Series:
        space_agg = self.aggregation("a metric (space aggregation:metric{scope})")
        self.expect(":")
        metric = self.match(_METRIC, "a metric name like aws.lambda.errors")
        self.expect("{", "'{' opening the metric's scope")
        tags: list[str] = []
        if self.peek("*"):
            self.pos += 1
        else:
            while True:
                neg = "!" if self.peek("!") else ""
                self.pos += len(neg)
                key = self.match(_TAG_KEY, "a tag key (lower case)")
                value = ""
                if self.peek(":"):
                    self.pos += 1
                    value = ":" + self.match(_TAG_VALUE, "a tag value (lower case, no spaces, commas or braces)")
                tags.append(neg + key + value)
                if not self.peek(","):
                    break
                self.pos += 1
        self.expect("}", "'}' closing the scope")
        if self.peek("by"):
            self.pos += 2
            self.expect("{")
            self.match(_TAG_KEY, "a tag key to group by")
            while self.peek(","):
                self.pos += 1
                self.match(_TAG_KEY, "a tag key to group by")
            self.expect("}")
        functions = []
        while self.peek("."):
            self.pos += 1
            fn = self.match(re.compile(r"[a-z_]+"), f"a function ({', '.join(sorted(FUNCTIONS))})")
            if fn not in FUNCTIONS:
                self.pos -= len(fn)
                self.fail(f"a function ({', '.join(sorted(FUNCTIONS))})")
            self.expect("()")
            functions.append(fn)
        return Series(space_agg, metric, tags, functions)


def parse(text: str) -> Query:
    """The parts of a metric monitor query, or QuerySyntaxError."""
    return _Parser(text).query()
