"""SQL answering's parts: the schema card (names that need quoting included), table selection on a
200-table schema, retrieved examples and their leakage guard, the grammar (checked with llama.cpp's own
grammar engine), voting, and answer_sql end to end with a scripted model."""

from __future__ import annotations

import ctypes
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from engine.chat.sql_agent import run_agent
from engine.db import open_database
from engine.eval.evaluate import evaluate
from engine.project.pairs import QAPair
from engine.qa.chat_format import PromptContext, messages_for
from engine.sqlgen.answer import AnswerSettings, answer_sql, chat_writer
from engine.sqlgen.examples import ExampleStore
from engine.sqlgen.grammar import compile_grammar, sql_grammar
from engine.sqlgen.grounding import SqlGrounding, run_context
from engine.sqlgen.schema_card import schema_card
from engine.sqlgen.voting import vote
from scripted_chat import Scripted

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_sql_grounding import wide_database  # noqa: E402


@pytest.fixture
def quoted_db(tmp_path) -> Path:
    """Names that need quoting: a space, a keyword, mixed case."""
    path = tmp_path / "quoted.sqlite"
    con = sqlite3.connect(path)
    con.executescript('''
        CREATE TABLE "Order Items"("Item Id" INTEGER PRIMARY KEY, "Unit Price" REAL, "group" TEXT, CustName TEXT);
        INSERT INTO "Order Items" VALUES (1, 2.5, 'tools', 'Ada'), (2, 4.0, 'garden', 'Bo'), (3, 1.0, 'tools', 'Cy');
    ''')
    con.commit()
    con.close()
    return path


def test_schema_card_shows_types_keys_links_and_few_values(demo_sqlite):
    with open_database(demo_sqlite) as db:
        card = schema_card(db)
    orders = card.table("orders").text
    assert orders.startswith("orders(order_id int PK, customer_id int -> customers.customer_id")
    assert "channel text e.g. 'marketplace', 'phone', 'store', 'web'" in orders
    assert "e.g." not in card.table("customers").text.split("email")[1].split(",")[0], "no values of a unique column"
    assert set(card.table("orders").neighbours) >= {"customers", "order_items"}


def test_names_that_need_quoting_work_in_prompt_grammar_and_execution(quoted_db, vocab):
    with open_database(quoted_db) as db:
        card = schema_card(db)
        assert card.tables[0].text.startswith('"Order Items"("Item Id" int PK, "Unit Price" real, "group" text')
        grammar = sql_grammar(card)
        assert accepts(grammar.text, 'SELECT "Unit Price" FROM "Order Items" WHERE "group" = \'tools\'')
        assert accepts(grammar.text, "SELECT CustName FROM \"Order Items\"")
        assert not accepts(grammar.text, "SELECT Unit Price FROM Order Items")
        answer = answer_sql(chat_writer(Scripted(['SELECT SUM("Unit Price") FROM "Order Items" WHERE "group" = '
                                                  "'tools'"])), db, "tools total?", PromptContext("q", grounding=
                                                  SqlGrounding(card)), AnswerSettings(k=1))
    assert answer.grammar_used and answer.chosen.rows == [(3.5,)]


def test_table_selection_on_a_200_table_schema_keeps_the_prompt_small(tmp_path, vocab):
    with open_database(wide_database(tmp_path / "wide.sqlite")) as db:
        grounding = SqlGrounding(schema_card(db))
    whole = sql_grammar(grounding.card).text  # too many tables for a branch each: one scope for all
    assert accepts(whole, "SELECT c.full_name, SUM(o.total) FROM unit03_orders o JOIN unit03_customers c ON "
                          "o.customer_id = c.customer_id GROUP BY 1")
    assert not accepts(whole, "SELECT full_name FROM unit03_orders JOIN unit03_client ON 1 = 1")
    assert len(grounding.card.tables) == 200 and not grounding.selector.fits_whole()
    chosen = grounding.prompt("How many unit07 shipments went by DHL?").tables
    assert "unit07_shipments" in chosen and len(chosen) < 20
    joined = grounding.selector.select("unit03 customers and their unit03 orders")
    assert {"unit03_customers", "unit03_orders"} <= set(joined)
    assert sum(len(grounding.card.table(t).text) + 1 for t in joined) <= grounding.budget_chars


def test_embeddings_choose_a_table_no_word_names_and_embed_each_question_once(tmp_path):
    """A question worded unlike every name ('parcels') still gets the table whose embedding is nearest,
    and the question is embedded once although its examples' fallback and the selection both score it."""

    class Embedder:
        calls = 0

        def embed(self, texts):
            self.calls += 1
            return [[1.0, 0.0] if "unit07_shipments" in t or "parcel" in t else [0.0, 1.0] for t in texts]

    embedder = Embedder()
    with open_database(wide_database(tmp_path / "wide.sqlite")) as db:
        grounding = SqlGrounding(schema_card(db), embedder=embedder)
    assert embedder.calls == 1  # every table at once, when the selector is built
    assert "unit07_shipments" in grounding.prompt("how many parcels left last week").tables
    assert embedder.calls == 2
    assert "unit07_shipments" not in SqlGrounding(grounding.card).prompt("how many parcels left last week").tables


def test_a_question_about_nothing_in_the_database_is_flagged(demo_sqlite):
    from engine.chat.sql_agent import run_agent

    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", "sqlite", SqlGrounding(schema_card(db)))
        assert context.grounding.selector.matches("orders per channel")
        assert not context.grounding.selector.matches("How many employees are on payroll?")
        steps = list(run_agent(Scripted(["SELECT COUNT(*) FROM customers"]), db, "How many employees are on payroll?",
                               context, AnswerSettings(k=1)))
    assert "no word of the question names a table" in steps[-2].text


def test_small_schemas_are_shown_whole(quoted_db):
    with open_database(quoted_db) as db:
        grounding = SqlGrounding(schema_card(db))
    assert grounding.prompt("anything").tables == ("Order Items",)


def test_examples_are_the_most_similar_pairs_and_never_a_pairs_own_query():
    store = ExampleStore.of_pairs([
        QAPair("How many orders are there?", "SELECT COUNT(*) FROM orders", kind="sql", sql="SELECT COUNT(*) FROM orders"),
        QAPair("Count the orders", "SELECT COUNT(*) FROM orders", kind="sql", sql="SELECT COUNT(*) FROM orders"),
        QAPair("Customers per country?", "SELECT country, COUNT(*) FROM customers GROUP BY country", kind="sql",
               sql="SELECT country, COUNT(*) FROM customers GROUP BY country"),
        QAPair("What is the capital?", "Paris", kind="data"),
    ], "sqlite")
    assert len(store) == 3, "only SQL pairs are examples"
    near = store.nearest("number of orders", k=2)
    assert [e.sql for e in near] == ["SELECT COUNT(*) FROM orders"], "one example per distinct query"
    assert len(store.nearest("orders and customers per country", k=3)) == 2
    assert all(e.sql != "SELECT COUNT(*) FROM orders" for e in store.nearest("orders", 3, "select count(*) from orders"))
    assert store.nearest("", 3) == [] and ExampleStore([]).nearest("orders") == []


def test_a_question_no_example_matches_gets_examples_over_the_tables_it_names(demo_sqlite):
    """Worded unlike every example ("purchases" for orders), a question that names a column still gets
    examples, over that column's table only; one naming nothing of the schema gets none."""
    def pair(question, sql, tables):
        return QAPair(question, sql, kind="sql", sql=sql, tables=tables, status="approved")

    pairs = [pair("How many orders are there?", "SELECT COUNT(*) FROM orders", "orders"),
             pair("Customers per country?", "SELECT country, COUNT(*) FROM customers GROUP BY country", "customers"),
             pair("Average order total by customer country?", "SELECT c.country, AVG(o.total_amount) FROM orders o "
                  "JOIN customers c ON o.customer_id = c.customer_id GROUP BY 1", "orders,customers")]
    with open_database(demo_sqlite) as db:
        grounding = SqlGrounding.of_database(db, pairs)
    assert grounding.store.nearest("purchases with a coupon") == []
    assert [e.question for e in grounding.prompt("purchases with a coupon").examples] == ["How many orders are there?"]
    assert grounding.prompt("good weather lately").examples == ()


class Greedy:
    """A predictor that always writes the same query."""
    name = "scripted"

    def __init__(self, reply):
        self.reply = reply

    def predict(self, messages, max_tokens):
        return self.reply


def test_a_question_an_approved_pair_asks_is_answered_with_its_query(demo_sqlite):
    """Worded the same (case and punctuation aside), the approved pair's query is the answer and the model
    is not asked; evaluation, a pair's own query excluded, and conflicting pairs still ask the model."""
    channel = "SELECT channel, COUNT(*) FROM orders GROUP BY channel"
    pairs = [QAPair("Orders per channel?", channel, kind="sql", sql=channel, status="approved"),
             QAPair("Orders per country?", "SELECT shipping_country, COUNT(*) FROM orders GROUP BY 1", kind="sql",
                    sql="SELECT shipping_country, COUNT(*) FROM orders GROUP BY 1", status="approved"),
             QAPair("Orders per country?", "SELECT COUNT(*) FROM orders", kind="sql", sql="SELECT COUNT(*) FROM orders",
                    status="approved")]
    model = "SELECT COUNT(*) FROM customers"
    settings = AnswerSettings(k=1, grammar=False, edited_examples=False, sketch=False)  # the model's candidate alone

    def ask(question, settings=settings, exclude_sql=None):
        chat = Scripted([model] * 4)
        return answer_sql(chat_writer(chat), db, question, context, settings, exclude_sql=exclude_sql), chat

    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", "sqlite", SqlGrounding.of_database(db, pairs))
        answer, chat = ask("  orders PER channel ")
        assert answer.approved and answer.sql == channel and chat.seen == [], "the model is not asked"
        assert [c.source for c in answer.candidates] == ["approved pair"]
        assert sorted(answer.chosen.rows) == sorted(db.query(channel).rows)
        steps = list(run_agent(Scripted([]), db, "Orders per channel?", context, AnswerSettings(k=1, grammar=False)))
        assert [s.kind for s in steps] == ["candidate", "rows", "answer"] and "approved pair" in steps[1].text
        for answer, chat in (ask("Orders per channel?", replace(settings, approved_answers=False)),
                             ask("Orders per channel?", exclude_sql=channel),
                             ask("Orders per country?"),  # two approved pairs disagree: the model decides
                             ask("Orders per channel, by month?")):
            assert not answer.approved and answer.chosen.sql == model and len(chat.seen) == 1
        report = evaluate(Greedy(model), [pairs[0]], db, context, general=False, answering=settings)
        assert report.examples[0].prediction == model, "evaluation scores the model, never the stored query"


def test_heldout_questions_never_enter_the_example_store(demo_sqlite, tmp_path):
    """The shipped held-out set of the demo database: a pair repeating one is kept out of the store, so
    evaluation can never retrieve a held-out question's own gold query."""
    from engine.qa.heldout import EVALS_DIR, load_heldout

    with open_database(demo_sqlite) as db:
        held = load_heldout(EVALS_DIR / "lumen.jsonl", db)[:5]
        leaking = [QAPair(q.question, q.gold_sql, kind="sql", sql=q.gold_sql, status="approved") for q in held]
        fine = QAPair("How many orders are there?", "SELECT COUNT(*) FROM orders", kind="sql",
                      sql="SELECT COUNT(*) FROM orders", status="approved")
        grounding = SqlGrounding.of_database(db, leaking + [fine])
    assert [e.question for e in grounding.store.examples] == [fine.question]
    for q in held:
        assert all(e.sql != q.gold_sql for e in grounding.prompt(q.question).examples)


def test_sql_prompt_carries_schema_and_examples_and_keeps_its_kind(demo_sqlite):
    from engine.qa.chat_format import request_kind

    pair = QAPair("Orders per channel?", "SELECT channel, COUNT(*) FROM orders GROUP BY channel", kind="sql",
                  sql="SELECT channel, COUNT(*) FROM orders GROUP BY channel", status="approved")
    other = QAPair("Orders per country?", "SELECT shipping_country, COUNT(*) FROM orders GROUP BY 1", kind="sql",
                   sql="SELECT shipping_country, COUNT(*) FROM orders GROUP BY 1", status="approved")
    with open_database(demo_sqlite) as db:
        context = PromptContext("lumen", "sqlite", SqlGrounding.of_database(db, [pair, other]))
    system = messages_for(pair, context, with_answer=False)[0]["content"]
    assert "Tables:\n" in system and "orders(order_id int PK" in system
    assert "Q: Orders per country?" in system and "Q: Orders per channel?" not in system, "not its own query"
    assert request_kind(messages_for(pair, context)) == "sql"
    fact = messages_for(QAPair("Tier of CU-1?", "Gold", kind="data"), context)[0]["content"]
    assert "Tables:" not in fact, "fact prompts stay short"


def test_grounding_saved_with_a_run_is_the_one_training_and_chat_use(demo_sqlite, tmp_path):
    from engine.tune.config import TuneConfig

    with open_database(demo_sqlite) as db:
        grounding = SqlGrounding.of_database(db, [QAPair("Orders?", "SELECT COUNT(*) FROM orders", kind="sql",
                                                         sql="SELECT COUNT(*) FROM orders", status="approved")])
    grounding.save(tmp_path)
    context = run_context(TuneConfig(output_dir=str(tmp_path), database_name="lumen"))
    question = "how many orders"
    assert context.grounded(question) == grounding.prompt(question)


# -- the grammar, through llama.cpp's own grammar engine ----------------------------------------------

@pytest.fixture(scope="module")
def vocab():
    import llama_cpp

    from engine.models.locate import resolve_model

    llm = llama_cpp.Llama(str(resolve_model(None).path), vocab_only=True, verbose=False)
    _VOCAB["llm"] = llm
    yield llm
    llm.close()


_VOCAB = {}


def accepts(grammar_text: str, sql: str, whole: bool = True) -> bool:
    """Whether llama.cpp's grammar sampler lets the bundled model's tokens of `sql` through, one by one,
    and then (`whole`) allows the end of the reply (the `vocab` fixture loads the tokenizer)."""
    import llama_cpp

    llm = _VOCAB["llm"]
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar_text.encode(), b"root")
    assert sampler, "the grammar parses"
    try:
        def allowed(token: int) -> bool:
            data = (llama_cpp.llama_token_data * 1)(llama_cpp.llama_token_data(token, 1.0, 0.0))
            array = llama_cpp.llama_token_data_array(data, 1, -1, False)
            llama_cpp.llama_sampler_apply(sampler, ctypes.byref(array))
            return data[0].logit > -1e30

        for token in llm.tokenize(sql.encode(), add_bos=False, special=False):
            if not allowed(token):
                return False
            llama_cpp.llama_sampler_accept(sampler, token)
        return not whole or allowed(llama_cpp.llama_vocab_eos(vocab))
    finally:
        llama_cpp.llama_sampler_free(sampler)


def test_grammar_accepts_real_names_and_makes_invented_ones_impossible(demo_sqlite, vocab):
    with open_database(demo_sqlite) as db:
        card = schema_card(db)
    grammar = sql_grammar(card, ["orders", "customers"], {"spend"}).text
    for good in ("SELECT COUNT(*) FROM orders",
                 "SELECT c.country, SUM(o.total_amount) AS spend FROM orders o JOIN customers c ON o.customer_id = "
                 "c.customer_id WHERE o.order_date >= '2024-01-01' GROUP BY c.country ORDER BY spend DESC LIMIT 5",
                 "select count(distinct customer_id) from orders where coupon_code is null",
                 "SELECT strftime('%Y', order_date), AVG(total_amount) FROM orders GROUP BY 1;"):
        assert accepts(grammar, good), good
    for bad in ("SELECT COUNT(*) FROM order_totals",  # invented table
                "SELECT total_spend FROM orders",  # invented column
                "SELECT * FROM products",  # a real table, but not one the prompt shows
                "DELETE FROM orders",
                "Here is the query: SELECT 1"):
        assert not accepts(grammar, bad), bad


def test_the_grammar_keeps_each_column_with_a_table_that_has_it(demo_sqlite, vocab):
    """A query over one table may name only that table's columns, a table is a table (never a column
    after FROM or JOIN), and a subquery has a scope of its own; a query over one table that names another
    table's column can only go on with a join; a join condition holds no clause and a clause no join."""
    with open_database(demo_sqlite) as db:
        card = schema_card(db)
    grammar = sql_grammar(card, ["orders", "customers"]).text
    for good in ("SELECT email FROM customers WHERE customer_id IN (SELECT customer_id FROM orders WHERE "
                 "total_amount > 100)",
                 "SELECT COUNT(*) FROM (SELECT customer_id FROM orders GROUP BY customer_id HAVING COUNT(*) > 2) t",
                 "SELECT customer_id FROM customers EXCEPT SELECT customer_id FROM orders",
                 "SELECT c.email FROM orders AS o INNER JOIN customers AS c ON o.customer_id = c.customer_id",
                 "SELECT email FROM orders o LEFT OUTER JOIN customers c USING (customer_id)",
                 "SELECT EXTRACT(YEAR FROM order_date) FROM orders",
                 "SELECT a.order_id FROM orders a JOIN orders b ON a.customer_id = b.customer_id AND a.order_id < "
                 "b.order_id",  # a table joined to itself, aliased
                 "SELECT country, COUNT(*) FROM orders JOIN customers USING (customer_id) WHERE total_amount > 10 "
                 "GROUP BY country HAVING COUNT(*) > 1 ORDER BY 2 DESC LIMIT 3",
                 "SELECT t.n FROM (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY 1) AS t JOIN customers c "
                 "ON c.customer_id = t.customer_id",
                 "WITH t AS (SELECT customer_id, COUNT(*) AS n FROM orders GROUP BY 1) SELECT MAX(n) FROM t",
                 "SELECT\n    email\nFROM customers",
                 "SELECT 1"):
        assert accepts(grammar, good), good
    for bad in ("SELECT email FROM orders",  # a customers column over orders alone
                "SELECT COUNT(*) FROM orders WHERE country = 'DE'",
                "SELECT COUNT(*) FROM customer_id",  # a column where a table goes
                "SELECT o.channel FROM orders o JOIN channel c ON 1 = 1",
                "SELECT email FROM customers WHERE customer_id IN (SELECT email FROM orders)",
                "SELECT email",  # a column, and no table
                "SELECT", "SELECT \n", "SELECT FROM orders",  # nothing selected
                "SELECT email FROM customers JOIN customers ON 1 = 1",  # a self-join without aliases
                "SELECT email FROM customers JOIN orders AS AS ON 1 = 1",
                "SELECT email FROM orders o JOIN customers c ON o.customer_id = c.customer_id ON 1 = 1",
                "SELECT email FROM orders o JOIN customers c WHERE o.total_amount > 1 JOIN orders x ON 1 = 1",
                "SELECT-12 FROM orders",  # SELECT glued to what follows (the base model's favourite)
                "SELECT customer_id FROM customers c EXCEPT SELECT c.customer_id FROM orders cEXCEPT SELECT 1"):
        assert not accepts(grammar, bad), bad
    assert not accepts(grammar, "SELECT email FROM orders WHERE", whole=False)
    assert accepts(grammar, "SELECT email FROM orders JOIN", whole=False)


@pytest.mark.parametrize("name", ["lumen", "kestrel"])
def test_the_grammar_allows_every_query_the_generator_writes(name, vocab):
    """Constrained decoding never forbids what tuning teaches: every template query of a demo database
    passes the grammar of its schema and of the result names the example store's queries give."""
    from engine.qa.templates import TemplateGenerator
    from engine.sqlgen.examples import Example

    with open_database(ROOT / f"resources/demo/{name}.sqlite") as db:
        card = schema_card(db)
        queries = sorted({i.sql for i in TemplateGenerator(db).intents() if i.kind == "sql"})
    aliases = ExampleStore([Example(q, q) for q in queries], card.dialect).aliases
    grammar = sql_grammar(card, None, aliases).text
    assert len(queries) > 100
    assert [q for q in queries if not accepts(grammar, q)] == []


def test_every_rule_the_grammar_writes_is_reachable(demo_sqlite):
    """No dead rule text: llama.cpp parses every rule of the grammar for every candidate, so each one
    written must be one a query can reach from the root (and none may be missing)."""
    import re

    with open_database(demo_sqlite) as db:
        card = schema_card(db)
    for tables in (None, ["orders"]):
        rules = dict(line.split(" ::= ", 1) for line in sql_grammar(card, tables).text.splitlines())
        refs = {name: set(re.findall(r"[a-z][a-z0-9-]*", re.sub(r'"(?:[^"\\]|\\.)*"|\[[^\]]*\]', "", body)))
                for name, body in rules.items()}
        reached, todo = set(), ["root"]
        while todo:
            name = todo.pop()
            if name not in reached:
                reached.add(name)
                todo += refs[name]  # a KeyError: a rule referred to and never written
        assert set(rules) - reached == set(), tables


def test_a_grammar_llama_cpp_cannot_build_means_free_decoding(caplog):
    """A grammar llama.cpp rejects is never passed to it (that would end the process): the candidate is
    written without one and the log says so."""
    from engine.models.llama_runtime import LlamaChat, Sampling
    from engine.sqlgen.grammar import SqlGrammar

    with LlamaChat(None, n_ctx=512) as chat:
        assert chat.grammar("root ::= (") is None and chat.grammar('root ::= "SELECT 1"') is not None
        write = chat_writer(chat)
        text = write([{"role": "user", "content": "Say SELECT 1"}], Sampling(max_tokens=8), SqlGrammar("root ::= (", ()))
    assert isinstance(text, str) and "free decoding" in caplog.text


def test_checking_the_sampled_token_first_decodes_what_the_grammar_first_chain_does(demo_sqlite, vocab):
    """Constrained sampling asks the grammar about the sampled token only (engine/models/grammar_sampling):
    greedy replies are token for token those of llama-cpp-python's grammar-first chain, and sampled ones
    stay inside the grammar (some of their tokens were turned down and drawn again)."""
    from engine.models.grammar_sampling import CheckFirstSampler
    from engine.models.llama_runtime import LlamaChat, Sampling

    with open_database(demo_sqlite) as db:
        card = schema_card(db)
    grammar = sql_grammar(card, ["orders", "customers"])
    system = "You write SQLite queries.\nTables:\n" + card.render(["orders", "customers"])
    greedy = Sampling(temperature=0.0, max_tokens=60, stop=("\n\n",))
    rejected = []
    with LlamaChat(None, n_ctx=1024) as chat:
        llm, check_first = chat._llm, chat._llm._init_sampler
        grammar_first = type(llm)._init_sampler.__get__(llm)

        def spying(**settings):
            sampler = check_first(**settings)
            if isinstance(sampler, CheckFirstSampler):
                rejected.append(sampler)
            return sampler

        compiled, same = chat.grammar(grammar.text), 0
        for question in ("Average order total by country", "How many orders per channel?"):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
            replies = []
            for init in (grammar_first, spying):
                llm._init_sampler = init
                llm.reset()  # the prompt evaluated the same way both times: logits equal to the bit
                replies.append(chat.complete(messages, greedy, grammar=compiled))
            assert replies[0].upper().startswith(("SELECT", "WITH")), replies
            # the same tokens, except that a reply caught in a loop ends there (and a blank line cannot cut a
            # query short, test_a_stop_string_never_ends_a_query_the_grammar_has_not_finished)
            assert replies[1] == replies[0] or (rejected[-1].looped and replies[0].startswith(replies[1])), replies
            same += replies[1] == replies[0]
            for seed in range(2):
                sampled = chat.complete(messages, Sampling(temperature=1.0, max_tokens=40, seed=seed), grammar=compiled)
                assert accepts(grammar.text, sampled, whole=False), sampled  # may stop at max_tokens
    assert same >= 1 and sum(s.rejected for s in rejected) > 0, "the grammar turned some sampled tokens down"


def test_a_stop_string_never_ends_a_query_the_grammar_has_not_finished():
    """The blank line that ends a SQL reply cannot cut it at `SELECT`: a token completing a stop string
    is turned down while the grammar could not end the reply, and allowed once it could."""
    from engine.models.llama_runtime import LlamaChat, Sampling

    grammar = 'root ::= "SELECT" sp "name" sp "FROM" sp "people"\nsp ::= " " | "\\n"'
    messages = [{"role": "user", "content": "Write a query that lists the names of people."}]
    with LlamaChat(None, n_ctx=512) as chat:
        compiled = chat.grammar(grammar)
        # the bundled model separates the words with newlines: a newline stop would end it at once
        assert chat.complete(messages, Sampling(max_tokens=20), grammar=compiled) == "SELECT\nname\nFROM\npeople"
        assert chat.complete(messages, Sampling(max_tokens=20, stop=("\n",)), grammar=compiled) == \
            "SELECT name FROM people"
        llm = chat._llm
        llm._init_sampler = type(llm)._init_sampler.__get__(llm)  # llama-cpp-python's own sampler cuts it
        assert chat.complete(messages, Sampling(max_tokens=20, stop=("\n",)), grammar=compiled) == "SELECT"


def test_a_reply_caught_in_a_loop_is_ended_and_real_queries_never_are(vocab):
    """The constrained sampler ends a reply that repeats itself (the slowest answers ran to the token
    limit that way); no query with repeated structure but real content looks like a loop."""
    from engine.models.grammar_sampling import in_a_loop

    def tokens(text: str) -> list[int]:
        return vocab.tokenize(text.encode(), add_bos=False, special=False)

    for looping in ("SELECT customer_id, customer_code, customer_code, customer_code, customer_code, customer_code",
                    "SELECT COUNT(*) FROM orders WHERE x = 1 AND x = 1 AND x = 1 AND x = 1",
                    "SELECT is a 1-total-total-total-total-total-total-total-total-total",
                    "select CrsCd from CourseCatalog where CrsCd" + " in (CrsCd, CrsCd where CrsCd.CrsCd" * 3):
        assert in_a_loop(tokens(looping)), looping
    for query in ("SELECT country, COUNT(*) FROM customers WHERE country IN ('DE', 'FR', 'GB', 'CA', 'US') GROUP BY 1",
                  "SELECT SUM(total_amount) FROM orders WHERE order_date BETWEEN '2024-01-01' AND '2024-12-31'",
                  "SELECT a.x FROM t AS a JOIN t AS b ON a.id = b.id JOIN t AS c ON b.id = c.id JOIN t AS d ON c.id = d.id",
                  "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE id IN (SELECT id FROM v WHERE id IN (1)))"):
        prefix = tokens(query)
        assert not any(in_a_loop(prefix[:n]) for n in range(1, len(prefix) + 1)), query


# -- voting ---------------------------------------------------------------------------------------------

def test_voting_majority_ties_empties_and_failures():
    one, two = ([(1,)], ["n"]), ([(2,)], ["n"])
    assert vote([one, two, two]).winner == 1 and vote([one, two, two]).votes == 2
    assert vote([two, one]).winner == 0, "a tie goes to the earliest candidate (greedy first)"
    assert vote([([], ["n"]), ([], ["n"]), one]).winner == 2, "a result beats an empty result"
    assert vote([None, None]).winner is None and vote([None, None]).failed == 2
    same = vote([([(1, "a"), (2, "b")], ["x", "y"]), ([(2.0000000001, "b"), (1, "a")], ["p", "q"])])
    assert same.votes == 2, "row order, column names and float noise do not split a group"


def test_candidates_run_under_the_row_cap_and_one_that_fails_is_dropped(demo_sqlite):
    chat = Scripted(["SELECT * FROM orders", "SELECT * FROM nope", "SELECT * FROM orders"])
    with open_database(demo_sqlite) as db:
        answer = answer_sql(chat_writer(chat), db, "all orders", PromptContext("lumen"),
                            AnswerSettings(k=3, max_rows=7, latency_budget_s=60, sketch=False))
    assert [c.ran for c in answer.candidates] == [True, False, True]
    assert answer.chosen.truncated and len(answer.chosen.rows) == 7 and answer.vote.votes == 2


def test_k_is_lowered_when_candidates_would_not_fit_the_latency_budget(demo_sqlite):
    import time

    class Slow(Scripted):
        def complete(self, messages, sampling, grammar=None):
            time.sleep(0.3)
            return super().complete(messages, sampling, grammar)

    with open_database(demo_sqlite) as db:
        answer = answer_sql(chat_writer(Slow(["SELECT 1"] * 8)), db, "one", PromptContext("lumen"),
                            AnswerSettings(k=8, latency_budget_s=0.7))
    assert 1 <= len(answer.candidates) < 8
