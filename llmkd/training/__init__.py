"""Training students on teacher labels: one trainer per student kind on the shared :mod:`config`.

``encoder`` distils the teacher's probabilities into a sequence classifier with the KD loss (``kd_loss``);
``causal`` fine-tunes a causal LM with LoRA on label and rationale targets. Both use ``common`` (data,
split, training arguments, resuming from ``checkpoints``, outputs) and write a ``model_card``.
"""
