"""A small general-ability set shipped with Engram: questions any assistant should answer, each
checked by words the answer must contain. Retention = the tuned model scores about as well as the
base model here (memory tuning must not make it forget how to be an assistant)."""

GENERAL_SET: list[tuple[str, tuple[str, ...]]] = [
    ("What is the capital of France?", ("paris",)),
    ("What is the capital of Japan?", ("tokyo",)),
    ("How many days are there in a week?", ("7", "seven")),
    ("What color is the sky on a clear day?", ("blue",)),
    ("What is 2 plus 2?", ("4", "four")),
    ("Which planet do we live on?", ("earth",)),
    ("What is the opposite of hot?", ("cold",)),
    ("What language is spoken in Spain?", ("spanish",)),
    ("How many legs does a spider have?", ("8", "eight")),
    ("What is frozen water called?", ("ice",)),
    ("What does a thermometer measure?", ("temperature",)),
    ("Which animal is known as man's best friend?", ("dog",)),
    ("What is the largest ocean on Earth?", ("pacific",)),
    ("What gas do plants absorb from the air?", ("carbon dioxide", "co2")),
    ("What do bees make?", ("honey",)),
    ("How many hours are in a day?", ("24", "twenty-four", "twenty four")),
]


def passes(answer: str, expected: tuple[str, ...]) -> bool:
    """True when any accepted word is in the answer (case-insensitive); alternatives are ORed."""
    text = answer.lower()
    return any(word in text for word in expected)
