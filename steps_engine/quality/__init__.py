"""Stage 6, quality: generated results in, checked results out.

Takes results records; gives the same records with a status, reason codes and a quality
object (near-duplicates, seed copies, benchmark contamination, rules, an LLM judge).
Empty until the quality stage lands; `export` reads its output.
"""

__all__: list[str] = []
