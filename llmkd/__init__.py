"""llmkd: distil large teacher LLMs into small, private students for financial text."""

__version__ = "0.1.0"
