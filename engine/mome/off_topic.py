"""Questions about no database: the router's picture of "not a fact question". A question closer to
one of these than to every fact an expert holds gets no expert and the base model answers.

Why a reference set and not a fixed similarity threshold: a small model's question embeddings put
every short question close to every other (general questions reach cosine 0.79–0.94 to some fact,
paraphrases of facts ≥ 0.91 to their own), so no threshold separates them; comparing against known
off-topic questions does (bench/bench_mome_router.py, docs/benchmarks.md). The prompts the general-
knowledge evaluation asks (engine.eval.general_set) are deliberately not here, so that benchmark
measures the gate on questions it has not seen."""

from engine.tune.regularization import GENERAL_PROMPTS

OFF_TOPIC_PROMPTS = GENERAL_PROMPTS + [
    "Hello, how are you today?",
    "Thank you for your help!",
    "Can you tell me a fun fact?",
    "Good night!",
    "Write a short poem about the sea.",
    "Tell me a story about a dragon.",
    "Compose a limerick about a cat.",
    "What is the square root of 144?",
    "Solve for x: 3x + 5 = 20.",
    "Convert 5 kilometers to miles.",
    "Who painted the Mona Lisa?",
    "When did World War II end?",
    "What is the largest planet in the solar system?",
    "How does a rainbow form?",
    "What causes the seasons on Earth?",
    "How do vaccines work?",
    "Write a Python function that reverses a string.",
    "What is recursion in programming?",
    "How do I center a div in CSS?",
    "What is the difference between TCP and UDP?",
    "What should I cook for dinner tonight?",
    "How can I sleep better?",
    "Recommend a good book to read.",
    "How do I write a cover letter?",
    "What are the benefits of regular exercise?",
    "Plan a weekend trip to the mountains.",
    "What is machine learning?",
    "Explain the theory of relativity simply.",
    "What is inflation in economics?",
    "Give me a synonym for happy.",
    "What is the plural of mouse?",
    "Correct the grammar: 'he go to school yesterday'.",
    "What does a JOIN do in SQL?",
    "How do I normalize a database schema?",
    "What is the difference between SQLite and PostgreSQL?",
]
