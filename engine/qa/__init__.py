"""QA pairs about the analyst's database: generation, validation, curation, import/export."""
