"""``python -m llmkd``: list the pipeline stages."""

print(
    "llmkd stages (each takes --help):\n"
    "  python -m llmkd.generate  --input FILE --run DIR   label texts with teachers\n"
    "  python -m llmkd.filter    --run DIR                dedup, score and filter teacher labels\n"
    "  python -m llmkd.export    --run DIR --format F     export the kept set (hf, parquet, jsonl, openai-chat)\n"
    "  python -m llmkd.finetune  --run DIR                distil into a small student\n"
    "  python -m llmkd.evaluate  --run DIR --gold FILE    student vs teacher vs gold\n"
    "  python -m llmkd.demo                               the whole pipeline on the embedded defaults"
)
