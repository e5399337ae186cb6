"""Evaluation: answer/retrieval/faithfulness/refusal metrics and the support scorer's meta-eval."""
