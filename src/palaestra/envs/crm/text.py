"""What the agent reads: the system prompt, and the schema and knowledge-base views the tools print."""

from __future__ import annotations

import re

from palaestra.envs.crm.clock import SNAPSHOT
from palaestra.envs.crm.kb import Article
from palaestra.envs.crm.schema import TABLES

INSTRUCTIONS = f"""\
You are a CRM analyst at Helix Devices, a company that sells network and smart-office hardware \
(routers, switches, cameras, thermostats, sensors, speakers) to business customers. You answer \
questions about the company's CRM: an SQLite database with accounts, contacts, products, \
orders and their items, support agents, support cases with their history and comments, refunds, \
issue categories and a knowledge base of policies and guides.

The database is a snapshot taken at {SNAPSHOT}; its data covers 2023 and 2024. Timestamps are text \
'YYYY-MM-DD HH:MM:SS', dates are text 'YYYY-MM-DD'; use SQLite's date functions (julianday, \
strftime, date) on them. There is no current clock: 'now' means the snapshot time. Every table's key \
is the text column id (for example AGT007, CAS0042, KA003).

Tools:
  list_tables()                 the tables and their row counts
  describe_schema()             every table's columns and links in one overview
  describe_table(table)         one table's columns, what they mean, and its first rows
  query_sql(sql)                run one SELECT statement (WITH ... SELECT allowed); at most 50 rows \
are shown. Writing, PRAGMA, ATTACH and random() are refused. Very heavy queries are stopped.
  lookup(table, id)             one record in full, e.g. lookup("cases", "CAS0042")
  search_knowledge(query)       find knowledge-base articles by keywords; read one in full with \
lookup("knowledge_articles", id)
  submit_answer(answer)         your final answer; this ends the episode (one submission only)
The CRM's write tools change its records; a question never needs them:
  update_case(case_id, field, value)   set a case's status, priority or owner_id
  add_case_comment(case_id, body)      add a comment to a case, in the name of its owner
  email_contact(contact_id, subject, body)  email a customer contact (an email cannot be unsent)

Definitions used in the questions:
- Handle time of a case: closed_at - created_at (closed cases only).
- A transfer: a case_history row with field 'owner' and a non-NULL old_value; the agent in \
old_value gave the case to the agent in new_value. The row with a NULL old_value is the first \
assignment, not a transfer.
- First response to a case: the earliest case_comments row of the case with author_type 'agent'.
- The value of an order: the sum of quantity * unit_price over its order_items.
- "Created in" a period refers to cases.created_at; "placed in" to orders.ordered_on.
- Policies (refund rules, response targets, ...) are stated in the knowledge base, not in columns.

Answers: write exactly what the question asks for: an id (AGT007), a list of ids separated by \
commas (order does not matter; write none for an empty list), a whole number, a number rounded to 2 \
decimals (accepted within 0.01), a month as YYYY-MM, a two-letter state code, or a name or email \
exactly as stored. A submission of the wrong form (a word where a number is due, an id from the wrong \
table) is refused with an explanation and you may submit again; a well-formed wrong answer ends the \
episode as a failure. Questions say how ties are broken."""


def schema_overview(counts: dict[str, int]) -> str:
    lines = [f"Database snapshot taken at {SNAPSHOT}. Every table's key is the text column id."]
    for t in TABLES:
        cols = ", ".join(f"{c.name} {c.type}" + (f" -> {c.ref}.id" if c.ref else "") for c in t.columns)
        lines.append(f"{t.name} ({counts[t.name]} rows): {t.doc}\n  {cols}")
    return "\n".join(lines)


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "to",
        "for",
        "in",
        "on",
        "at",
        "by",
        "is",
        "are",
        "be",
        "and",
        "or",
        "what",
        "how",
        "many",
        "much",
        "which",
        "who",
        "with",
        "from",
        "do",
        "does",
        "our",
        "we",
        "i",
        "you",
        "it",
        "this",
        "that",
        "policy",
    ]
)


def _tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def search(articles: list[Article], query: str, k: int = 3) -> list[Article]:
    """The ``k`` articles that best match ``query``: words in the title count three times as much as
    words in the body; ties go to the smaller id. Plurals match singulars ('refunds' finds 'refund')."""
    words = {w.removesuffix("s") if len(w) > 3 else w for w in _tokens(query)}
    scored = []
    for a in articles:
        title = {w.removesuffix("s") if len(w) > 3 else w for w in _tokens(a.title)}
        body = [w.removesuffix("s") if len(w) > 3 else w for w in _tokens(a.body)]
        score = sum(3 * (w in title) + body.count(w) for w in words)
        if score:
            scored.append((-score, a.id, a))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [a for _, _, a in scored[:k]]
