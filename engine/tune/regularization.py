"""General prompts that keep a memory-tuned model a capable assistant. At setup the *base* model
answers them (greedy); training then either mixes those answers in ('mix') or penalizes drifting from
the base model's distribution on them ('kl'). No external dataset is needed, so runs stay offline."""

GENERAL_PROMPTS = [
    "What is the capital of France?",
    "Explain in one sentence what a database index is.",
    "Write a short greeting for a colleague's birthday.",
    "What is 12 times 7?",
    "Give two tips for writing clear emails.",
    "What does SQL stand for?",
    "Name three primary colors.",
    "Summarize what photosynthesis is in one sentence.",
    "How many days are in a leap year?",
    "Translate 'good morning' into Spanish.",
    "What is the difference between a list and a set in Python?",
    "Suggest a name for a coffee shop.",
    "Why is the sky blue? Answer briefly.",
    "What is a foreign key in a relational database?",
    "List three healthy breakfast ideas.",
    "What is the boiling point of water in Celsius?",
]
