"""``python -m llmkd``: list the pipeline stages."""

print(
    "llmkd stages:\n"
    "  python -m llmkd.generate  --input FILE --run DIR   label texts with teachers\n"
    "  python -m llmkd.filter    --run DIR                dedup and score teacher labels\n"
    "  python -m llmkd.finetune  --run DIR                distil into a small student\n"
    "  python -m llmkd.evaluate  --run DIR --gold FILE    student vs teacher vs gold\n"
    "Each takes --help."
)
