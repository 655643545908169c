"""Stage 2, meaning: what skill names and instruction texts mean.

Takes skill names and record texts; gives embeddings (swappable `Embedder` backends with an
on-disk cache, `embeddings/`), skill phrases and vocabularies (`vocabulary`), skill tags for
untagged records (`tagging` by embedding, with a character n-gram term from `char_ngrams`;
`tagging_llm` by an LLM, or an LLM rerank of the embedding candidates; `ray_tagging` on a Ray
cluster, imported only by `steps tag --engine ray`; both resume through `tag_checkpoint`), open-vocabulary tagging
(`open_tagging`, with `canonical_tags` building the vocabulary), leave-one-slice-out
cross-validation for choosing a tagging method (`crossval`) and the 2-D skill map (`skillmap`, UMAP). Later stages use it for semantic edges, coherence and naming.
"""

from steps_engine.semantic.canonical_tags import CanonConfig, canonicalise, normalise_tag
from steps_engine.semantic.char_ngrams import CharNgramIndex
from steps_engine.semantic.crossval import cross_validate, grid_fit
from steps_engine.semantic.embeddings import Embedder, get_embedder
from steps_engine.semantic.open_tagging import open_tag_file
from steps_engine.semantic.tagging import TagConfig, load_vocabulary, tag_file
from steps_engine.semantic.vocabulary import Vocabulary, skill_phrase, skill_texts

__all__ = ["CanonConfig", "CharNgramIndex", "Embedder", "TagConfig", "Vocabulary", "canonicalise", "cross_validate", "get_embedder",
           "grid_fit", "load_vocabulary", "normalise_tag", "open_tag_file", "skill_phrase", "skill_texts", "tag_file"]
