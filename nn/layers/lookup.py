"""Keras 3's lookup layers: StringLookup and IntegerLookup map tokens to indices of a
vocabulary (given, or learned by `adapt(data)`), and back with invert=True.

Indices follow Keras's layout: the mask token first (index 0, when mask_token is set and
output_mode is "int"), then the out-of-vocabulary (OOV) indices, then the vocabulary,
most frequent token first (ties: the larger token first, as Keras's reversed lexsort).
"one_hot", "multi_hot", "count" and "tf_idf" encode those indices (CategoryEncoding's
rule). The vocabulary (and tf-idf weights) live in the layer's config, so a saved model
keeps them.

>>> layer = StringLookup(vocabulary=["a", "b", "c"])
>>> layer(np.array([["a", "c"], ["z", "b"]]))
array([[1, 3],
       [0, 2]])
"""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from typing import Any, Iterable

import numpy as np

from .base import Context, Layer, Shape
from .category_encoding import check_output_mode, encode_categorical, encoded_shape
from .hashing import fingerprint64
from .nodes import call_layer, is_symbolic
from .preprocessing import adapt_batches

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def idf(document_counts: np.ndarray, documents: int) -> np.ndarray:
    """Keras's inverse document frequency: log(1 + documents / (1 + document_count)).

    >>> idf(np.array([0, 1]), 3).round(4)
    array([1.3863, 0.9163])
    """
    return np.log(1.0 + documents / (1.0 + np.asarray(document_counts, np.float64)))


class IndexLookup(Layer):
    """What StringLookup and IntegerLookup share: the vocabulary, adapt, the lookup and
    the encodings. Subclasses say how their tokens are read (`_tokens`)."""

    #: computed with NumPy on concrete arrays (no derivative): a model holding the layer
    #: trains with eager steps (nn/compiled_step.py), and it may take strings or integers
    preprocesses_on_host = True

    token_kind = "token"

    def __init__(self, max_tokens: int | None, num_oov_indices: int, mask_token: Any,
                 oov_token: Any, vocabulary: Any = None, idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, **kwargs: Any) -> None:
        kwargs.pop("vocabulary_size", None)   # Keras's config records it; it follows
        kwargs.pop("has_input_vocabulary", None)
        super().__init__(**kwargs)
        who = self._who()
        self.output_mode = check_output_mode(output_mode, OUTPUT_MODES, who)
        if max_tokens is not None and (not isinstance(max_tokens, (int, np.integer))
                                       or max_tokens <= 1):
            raise ValueError(f"{who}: max_tokens must be an int > 1, or None, got "
                             f"{max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{who}: pad_to_max_tokens=True needs max_tokens")
        if isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices,
                                                               (int, np.integer)) \
                or num_oov_indices < 0:
            raise ValueError(f"{who}: num_oov_indices must be an int >= 0, got "
                             f"{num_oov_indices!r}")
        if invert and self.output_mode != "int":
            raise ValueError(f"{who}: invert=True maps indices back to tokens, so it needs "
                             f"output_mode='int', got {output_mode!r}")
        if sparse:
            raise ValueError(f"{who}: sparse=True is not supported; adkit.nn's arrays are "
                             "dense (leave sparse=False)")
        if idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(f"{who}: idf_weights go with output_mode='tf_idf'")
        if self.output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"{who}: with output_mode='tf_idf' and a vocabulary, give "
                             "idf_weights too (or adapt the layer instead)")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self._tokens_list: list | None = None
        self._index: dict = {}
        self.idf_weights: np.ndarray | None = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    def _who(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    # --- tokens --------------------------------------------------------------------
    def _tokens(self, data: Any) -> np.ndarray:
        """`data` as an array of this layer's tokens (TypeError naming the layer)."""
        raise NotImplementedError(f"{type(self).__name__} must define _tokens(data), the "
                                  "tokens it looks up (StringLookup and IntegerLookup do)")

    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The number of indices: special tokens plus the vocabulary."""
        return self._token_start() + len(self._vocabulary())

    def _vocabulary(self) -> list:
        if self._tokens_list is None:
            raise ValueError(f"{self._who()} has no vocabulary yet: call layer.adapt(data) "
                             "on training data first, or pass vocabulary=[...]")
        return self._tokens_list

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens in index order: [mask_token] (output_mode "int"), OOV tokens, then
        the vocabulary (most frequent first when adapted)."""
        tokens = list(self._vocabulary())
        if not include_special_tokens:
            return tokens
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * \
            self.num_oov_indices
        return special + tokens

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Use `vocabulary` (a list of tokens, or a text file of one token a line; it may
        begin with the special tokens, in index order) from now on."""
        who = self._who()
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{who}: output_mode='tf_idf' needs idf_weights with the "
                             "vocabulary")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{who}: idf_weights go with output_mode='tf_idf'")
        if isinstance(vocabulary, (str, os.PathLike)):
            vocabulary = self._read_vocabulary_file(vocabulary)
        tokens = [t.item() if isinstance(t, np.generic) else t
                  for t in self._tokens(np.asarray(vocabulary)).reshape(-1).tolist()]
        if not tokens:
            raise ValueError(f"{who}: the vocabulary is empty")
        special = [self.mask_token] * self._oov_start() + [self.oov_token] * \
            self.num_oov_indices
        if special and tokens[:len(special)] == special:
            tokens = tokens[len(special):]
        repeated = [t for t, n in Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{who}: the vocabulary repeats {repeated[:5]}; give each "
                             "token once")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(f"{who}: the vocabulary holds the mask token "
                             f"{self.mask_token!r}; leave it out (it is index 0)")
        if self.invert and self.oov_token in tokens:
            raise ValueError(f"{who}: the vocabulary holds the OOV token "
                             f"{self.oov_token!r}; leave it out")
        if self.max_tokens is not None and self._token_start() + len(tokens) > \
                self.max_tokens:
            raise ValueError(f"{who}: the vocabulary has {self._token_start() + len(tokens)} "
                             f"indices with its special tokens, more than max_tokens="
                             f"{self.max_tokens}")
        if idf_weights is not None:
            weights = np.asarray(idf_weights, np.float32).reshape(-1)
            n = len(tokens)
            if len(weights) == n:   # Keras pads the special tokens with the mean weight
                weights = np.concatenate([np.full(self._token_start(), weights.mean(),
                                                  np.float32), weights])
            if len(weights) != self._token_start() + n:
                raise ValueError(f"{who}: idf_weights has {len(weights)} entries for a "
                                 f"vocabulary of {n} tokens")
            self.idf_weights = weights
        self._tokens_list = tokens
        self._index = {t: i + self._token_start() for i, t in enumerate(tokens)}

    def _read_vocabulary_file(self, path: Any) -> list:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise ValueError(f"{self._who()}: cannot read the vocabulary file {path!r}: "
                             f"{e}") from None
        while lines and lines[-1] == "":
            lines.pop()
        return lines

    # --- adapt ---------------------------------------------------------------------
    def adapt(self, data: Any, batch_size: Any = None, steps: int | None = None) -> None:
        """Learn the vocabulary from `data` (an array of tokens, or an iterable of
        batches): every distinct token, most frequent first, at most max_tokens indices
        with the special ones; with output_mode "tf_idf" also each token's idf."""
        batches = adapt_batches(data, self._who())
        counts: Counter = Counter()
        document_counts: Counter = Counter()
        documents = 0
        for batch in itertools.islice(batches, steps) if steps is not None else batches:
            docs = self._tokens(batch)
            docs = docs.reshape(1, -1) if docs.ndim < 2 else docs.reshape(len(docs), -1)
            counts.update(docs.reshape(-1).tolist())
            if self.output_mode == "tf_idf":
                for doc in docs:
                    document_counts.update(set(doc.tolist()))
                documents += len(docs)
        self._learn(counts, document_counts, documents)

    def _learn(self, counts: Counter, document_counts: Counter, documents: int) -> None:
        """The vocabulary (and idf weights) from token and document counts, ordered as
        Keras: count descending, ties broken by the larger token first."""
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        order = sorted(counts.items(), key=lambda tc: (tc[1], tc[0]), reverse=True)
        if self.max_tokens is not None:
            order = order[:self.max_tokens - self._token_start()]
        tokens = [t for t, _ in order]
        if not tokens:
            raise ValueError(f"{self._who()}.adapt: data holds no tokens")
        weights = None
        if self.output_mode == "tf_idf":
            weights = idf(np.array([document_counts[t] for t in tokens]), documents)
        self._tokens_list = None
        self.set_vocabulary(tokens, weights)

    # --- the forward pass --------------------------------------------------------------
    def _depth(self) -> int:
        return self.max_tokens if self.pad_to_max_tokens else self.vocabulary_size()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.output_mode == "int":
            return tuple(input_shape)
        return encoded_shape(input_shape, self.output_mode if self.output_mode != "tf_idf"
                             else "count", self._depth())

    def lookup(self, tokens: np.ndarray) -> np.ndarray:
        """Indices of `tokens` (int64), OOV tokens at the OOV indices; the mask token at 0
        (output_mode "int") or at an index no encoding counts."""
        if self.num_oov_indices == 0:
            missing = {t for t in tokens.reshape(-1).tolist()
                       if t not in self._index and t != self.mask_token}
            if missing:
                raise ValueError(f"{self._who()}: with num_oov_indices=0 every input must be "
                                 f"in the vocabulary; got {sorted(missing, key=str)[:5]}; "
                                 "set num_oov_indices=1")
        uniques, inverse = np.unique(tokens.reshape(-1), return_inverse=True)
        mask_index = 0 if self.output_mode == "int" else np.iinfo(np.int64).max
        indices = np.array([self._index_of(t, mask_index) for t in uniques.tolist()],
                           np.int64)
        return indices[inverse].reshape(tokens.shape)

    def _index_of(self, token: Any, mask_index: int) -> int:
        if self.mask_token is not None and token == self.mask_token:
            return mask_index
        index = self._index.get(token)
        if index is not None:
            return index
        return self._oov_start() + self._oov_bucket(token)

    def _oov_bucket(self, token: Any) -> int:
        return 0

    def _inverse(self, indices: np.ndarray) -> np.ndarray:
        vocabulary = self.get_vocabulary()
        table = np.array(vocabulary + [self.oov_token], dtype=self._token_dtype())
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{self._who()} (invert=True): inputs must be integer indices, "
                            f"got dtype {indices.dtype}")
        where = np.where((indices >= 0) & (indices < len(vocabulary)), indices,
                         len(vocabulary))
        return table[where]

    def _token_dtype(self) -> Any:
        return object

    def call(self, params: dict, x: Any, ctx: Context) -> Any:
        self._vocabulary()
        if self.invert:
            return self._inverse(x)
        return self.encode_indices(self.lookup(self._tokens(x)))

    def encode_indices(self, indices: np.ndarray) -> np.ndarray:
        """Looked-up indices in the layer's output_mode."""
        if self.output_mode == "int":
            return indices
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        encoded = encode_categorical(indices, mode, self._depth(), np.int64,
                                     ignore_out_of_range=True, who=self._who())
        if self.output_mode != "tf_idf":
            return encoded
        weights = np.zeros(self._depth(), np.float32)
        weights[:len(self.idf_weights)] = self.idf_weights
        return encoded.astype(np.float32) * weights

    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        """On arrays outside a model, the lookup itself (Keras's `layer(x)`); in a model or
        on KerasTensors, as every layer."""
        owner = None if self._owner is None else self._owner()
        if is_symbolic(inputs) or (owner is not None and getattr(owner, "params", None)
                                   is not None):
            return call_layer(self, inputs, training)
        return self.call({}, inputs, Context(training=bool(training)))

    @property
    def output_dtypes(self) -> list:
        """int64 indices (and their encodings), float32 tf-idf, tokens when inverted."""
        if self.invert:
            return [np.dtype(self._token_dtype())]
        return [np.dtype(np.float32 if self.output_mode == "tf_idf" else np.int64)]

    def get_config(self) -> dict:
        vocabulary = self._tokens_list
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": False, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary": None if vocabulary is None else list(vocabulary),
                "idf_weights": None if self.idf_weights is None
                else self.idf_weights[self._token_start():].tolist()}


class StringLookup(IndexLookup):
    """Strings to integer indices of a vocabulary (Keras 3's StringLookup): given as
    vocabulary=[...], or learned by adapt(data). OOV strings map to index 0 (with
    num_oov_indices=1, the default); invert=True maps indices back to strings.

    With num_oov_indices > 1, an OOV string goes to OOV index FarmHash(string) mod
    num_oov_indices, as Keras's (nn/layers/hashing.py).

    >>> StringLookup(vocabulary=["a", "b"], invert=True)(np.array([1, 2, 0]))
    array(['a', 'b', '[UNK]'], dtype=object)
    """

    token_kind = "string"

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: str | None = None, oov_token: str = "[UNK]",
                 vocabulary: Any = None, idf_weights: Any = None, invert: bool = False,
                 output_mode: str = "int", pad_to_max_tokens: bool = False,
                 sparse: bool = False, encoding: str = "utf-8", **kwargs: Any) -> None:
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)
        kwargs.pop("oov_method", None)   # strings always hash with FarmHash in Keras
        if kwargs.pop("salt", None) is not None:
            raise ValueError("StringLookup: salt= makes Keras hash OOV strings with "
                             "TensorFlow's keyed SipHash, which adkit does not reproduce; "
                             "leave salt=None (FarmHash, as Keras's default)")
        kwargs.setdefault("dtype", "object")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, sparse, pad_to_max_tokens,
                         **kwargs)
        if invert:
            self.dtype = np.dtype(np.int64)

    def _tokens(self, data: Any) -> np.ndarray:
        data = np.asarray(data)
        if data.dtype.kind == "S":
            data = np.char.decode(data, self.encoding)
        if data.dtype.kind == "U":
            return data.astype(object)
        if data.dtype.kind == "O" and all(isinstance(t, (str, bytes))
                                          for t in data.reshape(-1).tolist()):
            return np.array([t.decode(self.encoding) if isinstance(t, bytes) else t
                             for t in data.reshape(-1).tolist()],
                            dtype=object).reshape(data.shape)
        raise TypeError(f"{self._who()}: inputs must be strings, got dtype {data.dtype}; "
                        "for integer categories use IntegerLookup")

    def _oov_bucket(self, token: Any) -> int:
        if self.num_oov_indices <= 1:
            return 0
        return fingerprint64(token.encode("utf-8")) % self.num_oov_indices

    def get_config(self) -> dict:
        config = {**super().get_config(), "encoding": self.encoding,
                  "vocabulary_dtype": "string"}
        if config.get("dtype") == "object":
            config.pop("dtype")
        return config


class IntegerLookup(IndexLookup):
    """Integers to indices of a vocabulary (Keras 3's IntegerLookup): given as
    vocabulary=[...], or learned by adapt(data). OOV values map to index 0 (with
    num_oov_indices=1); with more OOV indices, to value mod num_oov_indices (after
    the mask index), Keras's floormod. invert=True maps indices back to values (-1 for OOV).

    >>> IntegerLookup(vocabulary=[12, 36])(np.array([[12, 1138], [36, 12]]))
    array([[1, 0],
           [2, 1]])
    """

    token_kind = "integer"

    def __init__(self, max_tokens: int | None = None, num_oov_indices: int = 1,
                 mask_token: int | None = None, oov_token: int = -1, vocabulary: Any = None,
                 vocabulary_dtype: str = "int64", idf_weights: Any = None,
                 invert: bool = False, output_mode: str = "int", sparse: bool = False,
                 pad_to_max_tokens: bool = False, **kwargs: Any) -> None:
        if vocabulary_dtype not in ("int64", "int32"):
            raise ValueError(f"IntegerLookup: vocabulary_dtype must be 'int64' or 'int32', "
                             f"got {vocabulary_dtype!r}")
        oov_method = kwargs.pop("oov_method", "floormod")
        if oov_method != "floormod" or kwargs.pop("salt", None) is not None:
            raise ValueError("IntegerLookup: only oov_method='floormod' without salt is "
                             "supported (Keras's farmhash is TensorFlow's)")
        self.vocabulary_dtype = vocabulary_dtype
        kwargs.setdefault("dtype", vocabulary_dtype)
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, sparse, pad_to_max_tokens,
                         **kwargs)
        if invert:
            self.dtype = np.dtype(np.int64)

    def _tokens(self, data: Any) -> np.ndarray:
        data = np.asarray(data)
        if data.dtype.kind in "iu":
            return data.astype(np.int64)
        if data.dtype.kind == "f" and np.all(data == np.round(data)):
            return data.astype(np.int64)
        raise TypeError(f"{self._who()}: inputs must be integers, got dtype {data.dtype}; "
                        "for strings use StringLookup")

    def _oov_bucket(self, token: Any) -> int:
        return int(token) % self.num_oov_indices if self.num_oov_indices > 1 else 0

    def _token_dtype(self) -> Any:
        return np.int64

    def get_config(self) -> dict:
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype,
                "oov_method": "floormod", "salt": None}
