"""Keras 3's TextVectorization: strings to token indices (or multi-hot, count, tf-idf
vectors) through a vocabulary learned by `adapt(texts)`.

Each text is standardised (ASCII lower case, punctuation stripped: Keras's regex),
split on whitespace (or into characters), optionally joined into n-grams (all unigrams,
then all bigrams, ..., as tf.strings.ngrams), then looked up in a StringLookup whose mask
token is "" (index 0, the padding) and OOV token "[UNK]" (index 1). Keras's layer needs
TensorFlow; this one is NumPy, used outside a model (`vectorize(texts)`, as keras.io's
examples do in tf.data) or as a model's first layer after Input(dtype="string").

>>> vectorize = TextVectorization(output_sequence_length=4)
>>> vectorize.adapt(["The cat sat.", "The dog sat!", "the end"])
>>> vectorize.get_vocabulary()
['', '[UNK]', 'the', 'sat', 'end', 'dog', 'cat']
>>> vectorize(["the cat ran"])
array([[2, 6, 1, 0]])
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any, Callable

import numpy as np

from .base import Context, Layer, Shape
from .category_encoding import check_output_mode
from .lookup import OUTPUT_MODES, StringLookup
from .nodes import call_layer, is_symbolic

#: Keras's punctuation (text_vectorization.py), a character class ",-." being a range
PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
#: tf.strings.split's whitespace (ASCII), runs of which separate tokens
WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ngrams(tokens: list, widths: tuple | None) -> list:
    """tf.strings.ngrams with separator " ": every n-gram of each width in order (a
    sequence shorter than a width gives none of it).

    >>> ngrams(["a", "b", "c"], (1, 2))
    ['a', 'b', 'c', 'a b', 'b c']
    """
    if widths is None:
        return tokens
    return [" ".join(tokens[i:i + n]) for n in widths for i in range(len(tokens) - n + 1)]


class TextVectorization(Layer):
    """Texts to token indices or vectors (Keras 3's TextVectorization): `adapt(texts)`
    learns the vocabulary (most frequent first, ties the larger token first; at most
    max_tokens entries with "" and "[UNK]"), or give vocabulary=[...].

    output_mode "int": a (batch, length) array of indices, padded with 0 to the longest
    text or to output_sequence_length (longer texts truncated); "multi_hot", "count",
    "tf_idf" (and "one_hot" with split=None): one float32 vector per text.

    >>> layer = TextVectorization(output_mode="count", vocabulary=["a", "b"])
    >>> layer(["a a b c"])
    array([[1., 2., 1.]], dtype=float32)
    """

    #: NumPy on concrete strings: a model holding it trains with eager steps
    preprocesses_on_host = True

    def __init__(self, max_tokens: int | None = None,
                 standardize: str | Callable | None = "lower_and_strip_punctuation",
                 split: str | None = "whitespace", ngrams: int | tuple | None = None,
                 output_mode: str = "int", output_sequence_length: int | None = None,
                 pad_to_max_tokens: bool = False, vocabulary: Any = None,
                 idf_weights: Any = None, sparse: bool = False, ragged: bool = False,
                 encoding: str = "utf-8", **kwargs: Any) -> None:
        kwargs.pop("vocabulary_size", None)   # Keras's config records it; it follows
        kwargs.pop("has_input_vocabulary", None)
        kwargs.setdefault("dtype", "object")
        super().__init__(**kwargs)
        who = self._who()
        self.output_mode = check_output_mode(output_mode, OUTPUT_MODES, who)
        if not (standardize is None or callable(standardize) or standardize in STANDARDIZE):
            raise ValueError(f"{who}: unknown standardize {standardize!r}; use one of "
                             f"{', '.join(map(repr, STANDARDIZE))}, None or a function of "
                             "an array of strings")
        if not (split is None or split in SPLIT):
            raise ValueError(f"{who}: split must be 'whitespace', 'character' or None, got "
                             f"{split!r} (a split function is not supported: split the "
                             "texts yourself and pass split=None per token)")
        if ngrams is not None and not (
                isinstance(ngrams, int) and not isinstance(ngrams, bool) and ngrams >= 1
                or isinstance(ngrams, (tuple, list)) and ngrams
                and all(isinstance(n, int) and n >= 1 for n in ngrams)):
            raise ValueError(f"{who}: ngrams must be None, an int >= 1 or a tuple of them, "
                             f"got {ngrams!r}")
        if output_sequence_length is not None and (
                self.output_mode != "int" or isinstance(output_sequence_length, bool)
                or not isinstance(output_sequence_length, (int, np.integer))
                or output_sequence_length < 1):
            raise ValueError(f"{who}: output_sequence_length must be an int >= 1, and goes "
                             f"with output_mode='int' only; got {output_sequence_length!r} "
                             f"with output_mode={self.output_mode!r}")
        if ragged:
            raise ValueError(f"{who}: ragged=True is not supported; outputs are padded "
                             "(use output_sequence_length)")
        self.standardize = standardize
        self.split = split
        self.ngrams = tuple(ngrams) if isinstance(ngrams, (tuple, list)) else ngrams
        self.output_sequence_length = None if output_sequence_length is None \
            else int(output_sequence_length)
        self.encoding = encoding
        self._lookup = StringLookup(max_tokens=max_tokens, mask_token="",
                                    output_mode=self.output_mode, vocabulary=vocabulary,
                                    idf_weights=idf_weights, sparse=sparse,
                                    pad_to_max_tokens=pad_to_max_tokens, encoding=encoding,
                                    name=f"{self.name}_lookup")

    def _who(self) -> str:
        return f"TextVectorization {self.name!r}"

    # --- texts to tokens -----------------------------------------------------------
    def _texts(self, data: Any) -> list[str]:
        """One string per example: `data` of shape (batch,) or (batch, 1)."""
        texts = np.asarray(data)
        if texts.ndim == 2 and texts.shape[1] == 1:
            texts = texts[:, 0]
        if texts.ndim == 0:
            texts = texts[None]
        if texts.ndim != 1:
            raise ValueError(f"{self._who()}: inputs must be one string per example, of "
                             f"shape (batch,) or (batch, 1), got shape {texts.shape}")
        out = []
        for t in texts.tolist():
            if isinstance(t, bytes):
                t = t.decode(self.encoding)
            if not isinstance(t, str):
                raise TypeError(f"{self._who()}: inputs must be strings, got "
                                f"{type(t).__name__} {t!r}")
            out.append(t)
        return out

    def _standardized(self, texts: list[str]) -> list[str]:
        if callable(self.standardize):
            return [str(t) for t in np.asarray(self.standardize(np.array(texts))).tolist()]
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            texts = [t.translate(_ASCII_LOWER) for t in texts]   # tf.strings.lower: ASCII
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            texts = [PUNCTUATION.sub("", t) for t in texts]
        return texts

    def tokenize(self, data: Any) -> list[list[str]]:
        """Each text's tokens (standardised, split, n-grams), before the lookup.

        >>> TextVectorization(ngrams=2).tokenize(["Hi, there!"])
        [['hi', 'there', 'hi there']]
        """
        texts = self._standardized(self._texts(data))
        if self.split == "whitespace":
            tokens = [[w for w in WHITESPACE.split(t) if w] for t in texts]
        elif self.split == "character":
            tokens = [list(t) for t in texts]
        else:
            tokens = [[t] for t in texts]
        widths = tuple(range(1, self.ngrams + 1)) if isinstance(self.ngrams, int) \
            else self.ngrams
        return [ngrams(t, widths) for t in tokens]

    # --- vocabulary ------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        """Learn the vocabulary (and tf-idf weights) from `data`: a list or array of
        strings, or an iterable of batches of them."""
        if isinstance(data, (list, tuple, np.ndarray, str)) or hasattr(data, "__array__"):
            batches: Any = [data]
        elif hasattr(data, "__iter__"):
            batches = data if steps is None else itertools.islice(data, steps)
        else:
            raise TypeError(f"{self._who()}.adapt: data must be strings (a list or array) "
                            f"or an iterable of batches of them, got {type(data).__name__}")
        counts: Counter = Counter()
        document_counts: Counter = Counter()
        documents = 0
        for batch in batches:
            if isinstance(batch, tuple):
                batch = batch[0]
            for doc in self.tokenize(batch):
                counts.update(doc)
                document_counts.update(set(doc))
                documents += 1
        self._lookup._learn(counts, document_counts, documents)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list[str]:
        """The tokens in index order: "" (padding, output_mode "int"), "[UNK]", then the
        vocabulary."""
        return self._lookup.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The number of indices, "" and "[UNK]" included."""
        return self._lookup.vocabulary_size()

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Use `vocabulary` (and, for tf_idf, `idf_weights`) from now on."""
        self._lookup.set_vocabulary(vocabulary, idf_weights)

    # --- the forward pass ------------------------------------------------------------
    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) > 1 or (len(input_shape) == 1 and input_shape[0] != 1):
            raise self.shape_error(input_shape, "() or (1,): one string per example")
        if self.output_mode == "int":
            return (self.output_sequence_length,)
        if self.output_mode == "one_hot" and self.split is not None:
            raise ValueError(f"{self._who()}: output_mode='one_hot' encodes one token per "
                             "text; use split=None, or 'multi_hot' / 'count'")
        self._require_vocabulary()
        return (self._lookup._depth(),)

    def _require_vocabulary(self) -> None:
        if self._lookup._tokens_list is None:
            raise ValueError(f"{self._who()} has no vocabulary yet: call layer.adapt(data) "
                             "on training texts first, or pass vocabulary=[...]")

    @property
    def output_dtypes(self) -> list:
        """int64 indices ("int"), else float32 vectors, as Keras's output spec."""
        return [np.dtype(np.int64 if self.output_mode == "int" else np.float32)]

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        self._require_vocabulary()
        docs = self.tokenize(x)
        if self.output_mode == "int":
            length = self.output_sequence_length or max((len(d) for d in docs), default=0)
        else:
            if self.output_mode == "one_hot" and self.split is not None:
                self.compute_output_shape(())
            length = max(1, max((len(d) for d in docs), default=0))
        padded = np.full((len(docs), length), "", dtype=object)
        for row, doc in zip(padded, docs):
            doc = doc[:length]
            row[:len(doc)] = doc
        if self.output_mode == "one_hot":
            padded = padded[:, 0]
        out = self._lookup.call({}, padded, ctx)
        return out if self.output_mode == "int" else out.astype(np.float32)

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        """On texts outside a model: their vectors (Keras's `vectorize(texts)`, a list of
        strings included); in a model or on KerasTensors, as every layer."""
        owner = None if self._owner is None else self._owner()
        if is_symbolic(inputs) or (owner is not None and getattr(owner, "params", None)
                                   is not None):
            return call_layer(self, inputs, training)
        return self.call({}, inputs, Context(training=bool(training)))

    def get_config(self) -> dict:
        if callable(self.standardize):
            raise ValueError(f"{self._who()}: a standardize function cannot be saved in a "
                             "config; save the vocabulary (get_vocabulary()) and rebuild the "
                             "layer with the same function")
        lookup = self._lookup.get_config()
        config = {**super().get_config(), "max_tokens": lookup["max_tokens"],
                  "standardize": self.standardize, "split": self.split,
                  "ngrams": list(self.ngrams) if isinstance(self.ngrams, tuple)
                  else self.ngrams,
                  "output_mode": self.output_mode,
                  "output_sequence_length": self.output_sequence_length,
                  "pad_to_max_tokens": lookup["pad_to_max_tokens"], "sparse": False,
                  "ragged": False, "vocabulary": lookup["vocabulary"],
                  "idf_weights": lookup["idf_weights"], "encoding": self.encoding}
        if config.get("dtype") == "object":
            config.pop("dtype")
        return config
