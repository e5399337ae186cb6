"""The answering chain: evidence selection, answerability, generation, verification."""
