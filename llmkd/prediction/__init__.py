"""The predict stage's pieces: chunked input, output writers, resumable parts, the student and the cascade."""
